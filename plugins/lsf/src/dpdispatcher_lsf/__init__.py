"""dpdispatcher-lsf: the LSF (IBM Spectrum LSF) and LSFJobArray batch types.

Modules: :mod:`.lsf` (the machine: submit, poll, kill), :mod:`.array` (LSFJobArray), :mod:`.states` (STATs and
termination reasons), :mod:`.parsing` (what bsub and ``bjobs -json`` print),
:mod:`.header` (the ``#BSUB`` lines), :mod:`.commands` (the remote command lines,
transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_lsf.array import LSFJobArray, index_ranges
from dpdispatcher_lsf.commands import TRANSIENT_ERRORS, is_transient, may_have_landed
from dpdispatcher_lsf.lsf import LSF
from dpdispatcher_lsf.parsing import JOB_ID, BjobsAnswer, JobRow, parse_bjobs_json, submitted_id
from dpdispatcher_lsf.states import ENDED, LSF_STATES, TERM_REASONS, describe, term_reason

__all__ = [
    "ENDED",
    "JOB_ID",
    "LSF",
    "LSF_STATES",
    "TERM_REASONS",
    "TRANSIENT_ERRORS",
    "BjobsAnswer",
    "JobRow",
    "LSFJobArray",
    "describe",
    "index_ranges",
    "is_transient",
    "may_have_landed",
    "parse_bjobs_json",
    "submitted_id",
    "term_reason",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(LSF)
    register(LSFJobArray)
