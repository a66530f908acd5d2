"""The ``#SBATCH`` header of a job script, built from the resources (every line through the core's renderer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher.job_script import header_line

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources


def directive(option: str, value: object = None) -> str:
    """``#SBATCH <option> [<value>]``; a value cannot add a line to the script."""
    return header_line("#SBATCH", option if value is None else f"{option} {value}")


def job_name(job: Job) -> str:
    """The task's ``task_name`` for a one-task job (Slurm takes up to 1024 characters), else a hash-based name."""
    return job.get_scheduler_name(128) or f"dpd_{job.job_hash[:12]}"


def output_stem(job: Job, array: bool = False) -> str:
    """Slurm's stdout/stderr name without suffix (``%a``: the array index)."""
    return f"{job.job_hash}_%a" if array else job.job_hash


def output_lines(job: Job, array: bool = False) -> list[str]:
    """Slurm's stdout/stderr in the job root (the submit directory); arrays: one pair per element."""
    stem = output_stem(job, array)
    return [directive("--output", f"{stem}.out"), directive("--error", f"{stem}.err")]


def output_files(job: Job, elements: int = 0) -> list[str]:
    """The names :func:`output_lines` makes Slurm write: one pair, or one per array element."""
    stems = [f"{job.job_hash}_{i}" for i in range(elements)] if elements else [job.job_hash]
    return [f"{stem}{suffix}" for stem in stems for suffix in (".out", ".err")]


def resource_lines(res: Resources) -> list[str]:
    """Nodes, tasks per node, GPUs (``--gres`` or the custom GPU line) and the partition when one is given."""
    lines = [directive("--nodes", res.number_node), directive("--ntasks-per-node", res.cpu_per_node)]
    custom_gpu_line = res.kwargs.get("custom_gpu_line")
    if custom_gpu_line:
        lines.append(header_line("", custom_gpu_line))
    elif res.gpu_per_node > 0:
        lines.append(directive(f"--gres=gpu:{res.gpu_per_node}"))
    if res.queue_name:
        lines.append(directive("--partition", res.queue_name))
    return lines
