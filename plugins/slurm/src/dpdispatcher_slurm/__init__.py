"""dpdispatcher-slurm: the Slurm and SlurmJobArray batch types."""

from dpdispatcher import hookimpl
from dpdispatcher_slurm.slurm import Slurm, SlurmJobArray

__all__ = ["Slurm", "SlurmJobArray"]


@hookimpl
def register_machines(register):
    register(Slurm)
    register(SlurmJobArray)
