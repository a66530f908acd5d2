"""dpdispatcher-local: LocalContext and LazyLocalContext, for jobs that run on this machine."""

from dpdispatcher import hookimpl
from dpdispatcher_local.lazy_local import LazyLocalContext
from dpdispatcher_local.local import LocalContext

__all__ = ["LazyLocalContext", "LocalContext"]


@hookimpl
def register_contexts(register):
    register(LocalContext)
    register(LazyLocalContext)
