"""dpdispatcher-pbs: the PBS (OpenPBS / PBS Professional) and Torque batch types.

Modules: :mod:`.pbs` (the PBS machine: submit, poll, kill), :mod:`.array` (PBSJobArray:
PBS Pro job arrays), :mod:`.torque` (Torque),
:mod:`.states` (state letters and exit statuses), :mod:`.parsing` (what qsub and qstat
print), :mod:`.header` (the ``#PBS`` lines), :mod:`.commands` (the remote command lines,
transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_pbs.array import PBSJobArray, subjob_range
from dpdispatcher_pbs.commands import TRANSIENT_ERRORS, is_transient
from dpdispatcher_pbs.parsing import (
    JOB_ID,
    JobRow,
    parse_qstat_json,
    parse_torque_full,
    parse_torque_table,
    scan_qstat_json,
    sequence,
)
from dpdispatcher_pbs.pbs import PBS
from dpdispatcher_pbs.states import EXEC_CODES, PBS_STATES, TORQUE_STATES, describe_exit
from dpdispatcher_pbs.torque import Torque

__all__ = [
    "EXEC_CODES",
    "JOB_ID",
    "PBS",
    "PBS_STATES",
    "TORQUE_STATES",
    "TRANSIENT_ERRORS",
    "JobRow",
    "PBSJobArray",
    "Torque",
    "describe_exit",
    "is_transient",
    "parse_qstat_json",
    "parse_torque_full",
    "parse_torque_table",
    "scan_qstat_json",
    "sequence",
    "subjob_range",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(PBS)
    register(PBSJobArray)
    register(Torque)
