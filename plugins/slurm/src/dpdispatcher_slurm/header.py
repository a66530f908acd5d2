"""The ``#SBATCH`` header of a job script, built from the resources."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources


def job_name(job: Job) -> str:
    return f"dpd_{job.job_hash[:12]}"


def output_lines(job: Job, array: bool = False) -> list[str]:
    """Slurm's stdout/stderr in the job root (the submit directory); arrays: one pair per element."""
    stem = f"{job.job_hash}_%a" if array else job.job_hash
    return [f"#SBATCH --output {stem}.out", f"#SBATCH --error {stem}.err"]


def resource_lines(res: Resources) -> list[str]:
    """Nodes, tasks per node, GPUs (``--gres`` or the custom GPU line) and the partition when one is given."""
    lines = [f"#SBATCH --nodes {res.number_node}", f"#SBATCH --ntasks-per-node {res.cpu_per_node}"]
    custom_gpu_line = res.kwargs.get("custom_gpu_line")
    if custom_gpu_line:
        lines.append(custom_gpu_line)
    elif res.gpu_per_node > 0:
        lines.append(f"#SBATCH --gres=gpu:{res.gpu_per_node}")
    if res.queue_name:
        lines.append(f"#SBATCH --partition {res.queue_name}")
    return lines


def uses_template(res: Resources) -> bool:
    """Whether the header template strategy replaces the header (and every line this module writes)."""
    return bool(res.strategy.get("customized_script_header_template_file"))
