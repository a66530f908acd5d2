"""The ``#PBS`` header of a job script, built from the resources (every line through the core's renderer).

The resource, join and queue lines are those of dpdispatcher 1.1.0 for the same
resources (``select=N:ncpus=C[:ngpus=G]`` for PBS Pro, ``nodes=N:ppn=C[:gpus=G]`` for
Torque, ``-j oe``, ``-q`` when a queue is named). Two lines follow them: the job's
name and its output file. The name is the task's ``task_name`` for a one-task job (as
1.1.0 names it: at most 15 characters, a letter first), else ``dpd_`` and the start of
the job hash; the output file ``<job hash>.out`` in the job root is what tells this job
apart from others of the same name (:func:`output_matches`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources

#: the longest job name every PBS flavour takes (Torque before 6 and 1.1.0 cut names to 15)
NAME_LENGTH = 15


def directive(value: object) -> str:
    """``#PBS <value>``; a value cannot add a line to the script."""
    return header_line("#PBS", value)


def job_name(job: Job) -> str:
    """The task's ``task_name`` for a one-task job (sanitized as 1.1.0 does), else ``dpd_`` and the start of
    the job hash: at most 15 characters, starting with a letter, as every PBS flavour takes."""
    return job.get_scheduler_name(NAME_LENGTH, require_alpha_prefix=True) or hash_name(job)


def hash_name(job: Job) -> str:
    """``dpd_`` and the start of the job hash (15 characters): the name of a job without a task_name."""
    return "dpd_" + job.job_hash[: NAME_LENGTH - 4]


def output_file(job: Job) -> str:
    """The job's stdout and stderr (joined), in the job root: ``<job hash>.out``."""
    return f"{job.job_hash}.out"


def output_matches(output_path: str, expected: str, roots: Iterable[str]) -> bool:
    """Whether a job's ``Output_Path`` (``host:/path``) is ``expected`` (a name given with ``-o``) in one of ``roots``.

    The job root may be named by its physical path (``pwd -P``) or by the path the context
    uses; qsub makes a relative ``-o`` absolute from either.
    """
    path = output_path.split(":", 1)[1] if ":" in output_path else output_path
    if not posixpath.isabs(path):
        return path == expected
    return posixpath.normpath(path) in {posixpath.normpath(posixpath.join(root, expected)) for root in roots if root}


def select_line(res: Resources) -> str:
    """PBS Pro: ``-l select=N:ncpus=C`` and ``:ngpus=G`` with GPUs."""
    select = f"select={res.number_node}:ncpus={res.cpu_per_node}"
    if res.gpu_per_node:
        select += f":ngpus={res.gpu_per_node}"
    return directive(f"-l {select}")


def nodes_line(res: Resources) -> str:
    """Torque: ``-l nodes=N:ppn=C`` and ``:gpus=G`` with GPUs."""
    nodes = f"nodes={res.number_node}:ppn={res.cpu_per_node}"
    if res.gpu_per_node:
        nodes += f":gpus={res.gpu_per_node}"
    return directive(f"-l {nodes}")


def common_lines(job: Job, output: str | None = None) -> list[str]:
    """``-j oe``, the queue when one is named, the job name and the output file (``output``, default
    :func:`output_file`)."""
    lines = [directive("-j oe")]
    if job.resources.queue_name:
        lines.append(directive(f"-q {job.resources.queue_name}"))
    lines.append(directive(f"-N {job_name(job)}"))
    lines.append(directive(f"-o {output or output_file(job)}"))
    return lines
