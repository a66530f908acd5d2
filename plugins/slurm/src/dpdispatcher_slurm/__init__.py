"""dpdispatcher-slurm: the Slurm and SlurmJobArray batch types.

Modules: :mod:`.slurm` (the Slurm machine: submit, poll, kill), :mod:`.array`
(SlurmJobArray), :mod:`.states` (Slurm states and their parsing), :mod:`.header`
(the ``#SBATCH`` lines), :mod:`.commands` (the remote command lines, transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_slurm.array import SlurmJobArray, index_ranges
from dpdispatcher_slurm.commands import TRANSIENT_ERRORS, is_transient
from dpdispatcher_slurm.slurm import Slurm
from dpdispatcher_slurm.states import (
    ACTIVE,
    FAILURE_WORDS,
    SHORT_STATES,
    STATE_MAP,
    base_id,
    normalize_state,
    parse_rows,
)

__all__ = [
    "ACTIVE",
    "FAILURE_WORDS",
    "SHORT_STATES",
    "STATE_MAP",
    "TRANSIENT_ERRORS",
    "Slurm",
    "SlurmJobArray",
    "base_id",
    "index_ranges",
    "is_transient",
    "normalize_state",
    "parse_rows",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(Slurm)
    register(SlurmJobArray)
