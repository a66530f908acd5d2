"""dpdispatcher-hadoop: the DistributedShell batch type (Hadoop YARN) and HDFSContext.

Modules: :mod:`.hdfs_context` (the context: the job root on HDFS), :mod:`.hdfs_cli` (running
``hadoop fs``), :mod:`.archives` (the input archive, checked extraction of result archives),
:mod:`.local_copy` (results into the work base), :mod:`.distributed_shell` (the machine),
:mod:`.container_script` (what a job's script does in its container), :mod:`.commands`
(``hadoop jar`` and ``yarn application`` lines), :mod:`.yarn` (what ``yarn application`` prints).
"""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_hadoop.distributed_shell import DistributedShell
from dpdispatcher_hadoop.hdfs_context import HDFSContext

__all__ = ["DistributedShell", "HDFSContext"]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(DistributedShell)  # batch_type "DistributedShell" (any case)


@hookimpl
def register_contexts(register: Callable[..., None]) -> None:
    register(HDFSContext)  # context_type "HDFSContext", "HDFS", "hdfs" (any case, suffix optional)
