"""dpdispatcher-ssh: SSHContext, for jobs that run on a remote host reached over SSH."""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_ssh.hostkeys import HostKeyError
from dpdispatcher_ssh.session import SSHConnectionError, SSHSession
from dpdispatcher_ssh.ssh_context import SSHContext

__all__ = ["HostKeyError", "SSHConnectionError", "SSHContext", "SSHSession"]


@hookimpl
def register_contexts(register: Callable[..., None]) -> None:
    register(SSHContext)
