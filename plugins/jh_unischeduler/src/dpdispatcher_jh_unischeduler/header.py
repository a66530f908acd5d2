"""The ``#JSUB`` header of a job script, built from the resources (every line through the core's renderer).

The lines are those dpdispatcher 1.1.0 writes for the same resources, in its order:
``-e %J.err``, ``-o %J.out`` (the job's output files, named by its id, in the job root),
``-n`` (number_node x cpu_per_node), ``-R 'span[ptile=cpu_per_node]'``, ``-q`` when a queue
is named, and the GPU line: ``kwargs.custom_gpu_line`` as given, else ``-gpgpu
gpu_per_node`` when GPUs are asked for. A one-task job whose task has a ``task_name`` is
named by it (``-J``, at most 128 characters, sanitized by the core's ``Job.get_scheduler_name``,
the rule 1.1.0 applies to LSF, whose ``-J`` jsub shares; 1.1.0 does not name JH_UniScheduler
jobs); any other keeps jsub's default name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources

#: bytes of a job script jsub takes on its standard input (the vendor manual's limit)
SCRIPT_LIMIT = 4096


def directive(value: object) -> str:
    """``#JSUB <value>``; a value cannot add a line to the script."""
    return header_line("#JSUB", value)


#: the longest task name given to ``-J`` (1.1.0's rule for LSF)
NAME_LENGTH = 128


def name_lines(job: Job) -> list[str]:
    """``-J <task_name>`` for a one-task job with a task name; nothing otherwise."""
    name = job.get_scheduler_name(NAME_LENGTH)
    return [directive(f"-J {name}")] if name else []


def header_lines(res: Resources) -> list[str]:
    """The output, slot, span, queue and GPU lines, as 1.1.0 writes them."""
    lines = [
        directive("-e %J.err"),
        directive("-o %J.out"),
        directive(f"-n {res.number_node * res.cpu_per_node}"),
        directive(f"-R 'span[ptile={res.cpu_per_node}]'"),
    ]
    if res.queue_name:
        lines.append(directive(f"-q {res.queue_name}"))
    custom_gpu_line = res.kwargs.get("custom_gpu_line")
    if custom_gpu_line:
        lines.append(header_line("", custom_gpu_line))
    elif res.gpu_per_node > 0:
        lines.append(directive(f"-gpgpu {res.gpu_per_node}"))
    return lines


def output_files(job: Job) -> list[str]:
    """The output files of ``job``'s current submission (``%J`` is its id; none before it has one)."""
    return [f"{job.job_id}.out", f"{job.job_id}.err"] if job.job_id else []
