"""dpdispatcher-fugaku: the Fugaku batch type (Fujitsu Technical Computing Suite: pjsub, pjstat, pjdel).

Modules: :mod:`.fugaku` (the machine: submit, poll, kill), :mod:`.states` (ST words, PJM codes),
:mod:`.parsing` (what pjstat prints), :mod:`.header` (the ``#PJM`` lines), :mod:`.commands`
(the remote command lines, transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_fugaku.commands import TRANSIENT_ERRORS, is_transient
from dpdispatcher_fugaku.fugaku import Fugaku
from dpdispatcher_fugaku.parsing import JOB_ID, parse_history, parse_pjstat
from dpdispatcher_fugaku.states import FUGAKU_ENDED, FUGAKU_STATES, PJM_CODES, HistoryRecord, describe

__all__ = [
    "FUGAKU_ENDED",
    "FUGAKU_STATES",
    "JOB_ID",
    "PJM_CODES",
    "TRANSIENT_ERRORS",
    "Fugaku",
    "HistoryRecord",
    "describe",
    "is_transient",
    "parse_history",
    "parse_pjstat",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(Fugaku)
