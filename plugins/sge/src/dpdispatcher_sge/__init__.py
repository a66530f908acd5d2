"""dpdispatcher-sge: the SGE and SGEJobArray batch types (Grid Engine).

Modules: :mod:`.sge` (the SGE machine: submit, poll, kill), :mod:`.array`
(SGEJobArray), :mod:`.states` (state codes and the parsing of qstat -xml, qacct and
error reasons), :mod:`.header` (the ``#$`` lines), :mod:`.commands` (the remote
command lines, transient errors).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_sge.array import SGEJobArray, task_range
from dpdispatcher_sge.commands import TRANSIENT_ERRORS, is_limit, is_transient
from dpdispatcher_sge.header import sanitize_job_name
from dpdispatcher_sge.sge import SGE
from dpdispatcher_sge.states import (
    LETTERS,
    AcctRecord,
    QstatEntry,
    describe_record,
    map_state,
    parse_error_reasons,
    parse_qacct,
    parse_qstat_xml,
)

__all__ = [
    "LETTERS",
    "SGE",
    "TRANSIENT_ERRORS",
    "AcctRecord",
    "QstatEntry",
    "SGEJobArray",
    "describe_record",
    "is_limit",
    "is_transient",
    "map_state",
    "parse_error_reasons",
    "parse_qacct",
    "parse_qstat_xml",
    "sanitize_job_name",
    "task_range",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(SGE)
    register(SGEJobArray)
