"""The ``#PBS`` header of a job script, built from the resources (every line through the core's renderer).

The resource, join and queue lines are those of dpdispatcher 1.1.0 for the same
resources (``select=N:ncpus=C[:ngpus=G]`` for PBS Pro, ``nodes=N:ppn=C[:gpus=G]`` for
Torque, ``-j oe``, ``-q`` when a queue is named). Two lines follow them: the job's
name and its output file, so that a job can be found by name and leaves one output
file with a known name in the job root.
"""

from __future__ import annotations

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
    """``dpd_`` and the start of the job hash: 15 characters, starting with a letter, as PBS requires."""
    return "dpd_" + job.job_hash[: NAME_LENGTH - 4]


def output_file(job: Job) -> str:
    """The job's stdout and stderr (joined), in the job root: ``<job hash>.out``."""
    return f"{job.job_hash}.out"


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


def common_lines(job: Job) -> list[str]:
    """``-j oe``, the queue when one is named, the job name and the output file."""
    lines = [directive("-j oe")]
    if job.resources.queue_name:
        lines.append(directive(f"-q {job.resources.queue_name}"))
    lines.append(directive(f"-N {job_name(job)}"))
    lines.append(directive(f"-o {output_file(job)}"))
    return lines
