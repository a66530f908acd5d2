"""The ``#$`` header of a job script, built from the resources (every line through the core's renderer).

For the same resources the lines are those dpdispatcher 1.1.0 writes (``-S``, ``-cwd``,
``-N``, ``-pe``, ``-q``), followed by ``-o``/``-e`` naming Grid Engine's own output
files in the job root, so that a run knows (and cleans) every file it leaves.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources

#: the default parallel environment (as in dpdispatcher 1.1.0)
DEFAULT_PE = "mpi"


def directive(option: str, value: object = None) -> str:
    """``#$ <option> [<value>]``; a value cannot add a line to the script."""
    return header_line("#$", option if value is None else f"{option} {value}")


def sanitize_job_name(name: str) -> str:
    """A name ``qsub -N`` accepts: letters, digits, ``_``, ``.``, ``-`` (others become ``_``), not starting with a digit.

    Grid Engine refuses ``/ : @ \\ * ?`` and white space in job names, and a leading digit
    would make the name look like a job id to qstat/qdel.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name.strip())
    if not cleaned:
        return "dpd_job"
    return cleaned if cleaned[0].isalpha() or cleaned[0] == "_" else f"j{cleaned}"


def job_name(job: Job) -> str:
    """As dpdispatcher 1.1.0: ``kwargs.job_name`` (sanitized) if given, else the task's ``task_name`` for a
    one-task job (up to 128 characters, a letter first), else ``dpd_<job hash prefix>`` (1.1.0: ``wDPjob``)."""
    given = job.resources.kwargs.get("job_name")
    if given:
        return sanitize_job_name(given)
    return job.get_scheduler_name(128, require_alpha_prefix=True) or hash_name(job)


def hash_name(job: Job) -> str:
    """``dpd_<job hash prefix>``: the name of a job without a given name (unique per job)."""
    return f"dpd_{job.job_hash[:12]}"


def resource_lines(res: Resources) -> list[str]:
    """``-pe <pe_name> <cpu_per_node>`` and ``-q <queue>`` when a queue is named (number_node is not used by SGE)."""
    lines = [directive("-pe", f"{res.kwargs.get('pe_name') or DEFAULT_PE} {res.cpu_per_node}")]
    if res.queue_name:
        lines.append(directive("-q", res.queue_name))
    return lines


def output_stem(job: Job, array: bool = False) -> str:
    """Grid Engine's stdout/stderr name without suffix (``$TASK_ID``: the array task id, expanded by SGE)."""
    return f"{job.job_hash}_$TASK_ID" if array else job.job_hash


def output_lines(job: Job, array: bool = False) -> list[str]:
    """``-o``/``-e`` in the job root (relative paths are relative to the ``-cwd`` directory, the job root)."""
    stem = output_stem(job, array)
    return [directive("-o", f"{stem}.out"), directive("-e", f"{stem}.err")]


def output_files(job: Job, elements: int = 0) -> list[str]:
    """The names :func:`output_lines` makes Grid Engine write: one pair, or one per array task (1-based)."""
    stems = [f"{job.job_hash}_{i}" for i in range(1, elements + 1)] if elements else [job.job_hash]
    return [f"{stem}{suffix}" for stem in stems for suffix in (".out", ".err")]
