"""dpdispatcher-jh-unischeduler: the JH_UniScheduler batch type (jsub, jjobs, jctrl).

Modules: :mod:`.jh_unischeduler` (the machine: submit, poll, kill), :mod:`.states` (STAT words,
TERM_ reasons), :mod:`.parsing` (what jjobs prints), :mod:`.header` (the ``#JSUB`` lines),
:mod:`.commands` (the remote command lines, transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_jh_unischeduler.commands import TRANSIENT_ERRORS, is_transient
from dpdispatcher_jh_unischeduler.jh_unischeduler import JH_UniScheduler
from dpdispatcher_jh_unischeduler.parsing import JOB_ID, not_found, parse_jjobs, parse_long
from dpdispatcher_jh_unischeduler.states import JH_ENDED, JH_STATES, TERM_REASONS, JobRecord, describe

__all__ = [
    "JH_ENDED",
    "JH_STATES",
    "JOB_ID",
    "TERM_REASONS",
    "TRANSIENT_ERRORS",
    "JH_UniScheduler",
    "JobRecord",
    "describe",
    "is_transient",
    "not_found",
    "parse_jjobs",
    "parse_long",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(JH_UniScheduler)
