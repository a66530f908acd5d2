"""dpdispatcher-shell: the Shell batch type — job scripts run as background processes."""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_shell.shell import Shell

__all__ = ["Shell"]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(Shell)
