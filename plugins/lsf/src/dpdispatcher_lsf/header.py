"""The ``#BSUB`` header of a job script, built from the resources (every line through the core's renderer).

The lines are those dpdispatcher 1.1.0 writes for the same resources, in its order:
``-e %J.err``, ``-o %J.out`` (LSF replaces ``%J`` by the job id: the files land in the
submit directory, the job root), ``-n`` (nodes x CPUs per node), ``-R 'span[ptile=C]'``,
``-q`` when a queue is named, and the GPU request of the ``kwargs`` (``gpu_usage``,
``gpu_new_syntax``, ``gpu_exclusive``, ``custom_gpu_line``). 1.1.0's empty template slots
(its blank lines) are left out. Two lines follow: the job's name (``-J``: the task's
``task_name`` for a one-task job, as 1.1.0 names it, else ``dpd_<job hash>``) and its
description (``-Jd dpd_<job hash>``), so that a job whose ``bsub`` answer was lost is found
by name and told apart from other jobs of that name by its description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources

#: LSF's stdout and stderr of a job, in the submit directory (``%J``: the job id), as 1.1.0 names them
OUTPUT = "%J.out"
ERROR = "%J.err"
#: those of a job array element (``%I``: its index), one pair per element
ARRAY_OUTPUT = "%J_%I.out"
ARRAY_ERROR = "%J_%I.err"

#: the kwargs 1.1.0 declares for LSF, with their defaults
KWARGS_DEFAULTS: dict[str, Any] = {
    "gpu_usage": False,
    "gpu_new_syntax": False,
    "gpu_exclusive": True,
    "custom_gpu_line": None,
}


def directive(value: object) -> str:
    """``#BSUB <value>``; a value cannot add a line to the script."""
    return header_line("#BSUB", value)


def job_name(job: Job) -> str:
    """The task's ``task_name`` for a one-task job (1.1.0's rules: up to 128 characters, sanitized), else
    :func:`marker`; neither holds an LSF wildcard or index brackets."""
    return job.get_scheduler_name(128) or marker(job)


def marker(job: Job) -> str:
    """``dpd_`` and the job hash: unique to the job, a letter first (the job's description, ``-Jd``)."""
    return f"dpd_{job.job_hash}"


def output_files(job: Job, indices: Sequence[int] = ()) -> list[str]:
    """The names :data:`OUTPUT` and :data:`ERROR` become for the job's current id (none before it has one);
    with ``indices``, those :data:`ARRAY_OUTPUT` and :data:`ARRAY_ERROR` become for each element."""
    if not job.job_id:
        return []
    if not indices:
        return [OUTPUT.replace("%J", job.job_id), ERROR.replace("%J", job.job_id)]
    return [
        name.replace("%J", job.job_id).replace("%I", str(i)) for i in indices for name in (ARRAY_OUTPUT, ARRAY_ERROR)
    ]


def kwarg(res: Resources, name: str) -> Any:
    """A kwarg of the resources, or its 1.1.0 default."""
    value = (res.kwargs or {}).get(name)
    return KWARGS_DEFAULTS[name] if value is None else value


def gpu_line(res: Resources) -> str | None:
    """The GPU request: the custom line if given, else with ``gpu_usage`` and GPUs the ``-gpu`` (new syntax) or
    ``-R select/rusage`` (old syntax) line, else none."""
    custom = kwarg(res, "custom_gpu_line")
    if custom:
        return header_line("", custom)
    if kwarg(res, "gpu_usage") is True and res.gpu_per_node > 0:
        if kwarg(res, "gpu_new_syntax") is True:
            exclusive = "yes" if kwarg(res, "gpu_exclusive") is True else "no"
            return directive(f"-gpu 'num={res.gpu_per_node}:mode=shared:j_exclusive={exclusive}'")
        return directive(f'-R "select[ngpus >0] rusage[ngpus_excl_p={res.gpu_per_node}]"')
    return None


def resource_lines(res: Resources, array: bool = False) -> list[str]:
    """1.1.0's lines: output files, slots, ptile, the queue when one is named, the GPU request when asked for.

    With ``array``, the output files are one pair per element (:data:`ARRAY_OUTPUT`, :data:`ARRAY_ERROR`).
    """
    lines = [
        directive(f"-e {ARRAY_ERROR if array else ERROR}"),
        directive(f"-o {ARRAY_OUTPUT if array else OUTPUT}"),
        directive(f"-n {res.number_node * res.cpu_per_node}"),
        directive(f"-R 'span[ptile={res.cpu_per_node}]'"),
    ]
    if res.queue_name:
        lines.append(directive(f"-q {res.queue_name}"))
    gpu = gpu_line(res)
    if gpu:
        lines.append(gpu)
    return lines


def name_lines(job: Job, indices: str = "") -> list[str]:
    """``-J <name>`` (``indices``: a job array's index list, ``1-8`` or ``1,3,5-7``) and ``-Jd dpd_<hash>``."""
    return [directive(f"-J {job_name(job)}" + (f"[{indices}]" if indices else "")), directive(f"-Jd {marker(job)}")]
