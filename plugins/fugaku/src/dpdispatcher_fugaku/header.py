"""The ``#PJM`` header of a job script, built from the resources (every line through the core's renderer).

The lines are those dpdispatcher 1.1.0 writes for the same resources, in its order:
``-L "rscgrp=Q"`` when a queue is named, ``-L "node=N" `` (with 1.1.0's trailing space) and
``--mpi "max-proc-per-node=C"``. A one-task job whose task has a ``task_name`` is named by it
(``-N``, up to pjsub's 63 bytes, sanitized by the core's ``Job.get_scheduler_name``; 1.1.0
does not name Fugaku jobs); any other keeps pjsub's default name, the script's file name.
The output files are pjsub's defaults (``<name>.<job id>.out`` / ``.err`` in the job root).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher.errors import ConfigError
from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources


def directive(value: object) -> str:
    """``#PJM <value>``; a value cannot add a line to the script."""
    return header_line("#PJM", value)


def _quoted(field: str, value: object) -> str:
    """``value`` for a ``"key=value"`` directive: a double quote in it would end the quoted word."""
    text = str(value)
    if '"' in text:
        raise ConfigError(f'resources/{field}: {text!r} may not contain a double quote (it goes inside #PJM "...")')
    return text


#: the longest job name pjsub takes (bytes)
NAME_LENGTH = 63


def job_name(job: Job) -> str | None:
    """The task's ``task_name`` for a one-task job (sanitized); None: pjsub's default, the script's name."""
    return job.get_scheduler_name(NAME_LENGTH)


def name_lines(job: Job) -> list[str]:
    """``-N <task_name>`` for a one-task job with a task name; nothing otherwise."""
    name = job_name(job)
    return [directive(f"-N {name}")] if name else []


def header_lines(res: Resources) -> list[str]:
    """The resource group (when named), node and MPI lines, as 1.1.0 writes them."""
    lines = []
    if res.queue_name:
        lines.append(directive(f'-L "rscgrp={_quoted("queue_name", res.queue_name)}"'))
    lines.append(directive(f'-L "node={res.number_node}" '))
    lines.append(directive(f'--mpi "max-proc-per-node={res.cpu_per_node}"'))
    return lines


def output_files(job: Job) -> list[str]:
    """pjsub's default output files of ``job``'s current submission (none before it has an id)."""
    if not job.job_id:
        return []
    stem = f"{job_name(job) or job.script_file_name}.{job.job_id}"
    return [f"{stem}.out", f"{stem}.err", f"{stem}.stats"]
