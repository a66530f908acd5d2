"""dpdispatcher-local: LocalContext and LazyLocalContext, for jobs that run on this machine."""

from typing import Callable

from dpdispatcher import hookimpl
from dpdispatcher_local.lazy_local import LazyLocalContext
from dpdispatcher_local.local import LocalContext

__all__ = ["LazyLocalContext", "LocalContext"]


@hookimpl
def register_contexts(register: Callable[..., None]) -> None:
    register(LocalContext)
    register(LazyLocalContext)
