"""dpdispatcher-dpcloudserver: the DpCloudServer batch type and DpCloudServerContext (the DP cloud:
Bohrium, formerly Lebesgue), aliases ``Bohrium``/``Lebesgue`` and ``BohriumContext``/``LebesgueContext``.

Modules: :mod:`.machine` (submit, poll, kill), :mod:`.context` (the staging job root),
:mod:`.api` (the job API, the published ``API``), :mod:`.transport` (HTTP: retries, timeouts,
the token), :mod:`.oss` (the archives in object storage), :mod:`.archive` (zip in, checked zip out),
:mod:`.packing` (what each archive holds), :mod:`.payload` (the job's JSON), :mod:`.profile`
(remote_profile's arguments), :mod:`.states`, :mod:`.retcode`, :mod:`.settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from dpdispatcher import hookimpl
from dpdispatcher.paths import expand_local, safe_join
from dpdispatcher_dpcloudserver.api import API, Client
from dpdispatcher_dpcloudserver.context import DpCloudServerContext
from dpdispatcher_dpcloudserver.errors import CloudError, CloudLoginError, RequestInfoException
from dpdispatcher_dpcloudserver.machine import DpCloudServer
from dpdispatcher_dpcloudserver.retcode import RETCODE

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext
    from dpdispatcher.submission import Submission

__all__ = [
    "API",
    "RETCODE",
    "Client",
    "CloudError",
    "CloudLoginError",
    "DpCloudServer",
    "DpCloudServerContext",
    "RequestInfoException",
]


@hookimpl
def register_machines(register: Callable[..., None]) -> None:
    register(DpCloudServer)
    register(DpCloudServer, name="Bohrium")
    register(DpCloudServer, name="Lebesgue")


@hookimpl
def register_contexts(register: Callable[..., None]) -> None:
    register(DpCloudServerContext)
    register(DpCloudServerContext, name="BohriumContext")
    register(DpCloudServerContext, name="LebesgueContext")


@hookimpl
def files_uploaded(context: BaseContext, submission: Submission, files: list[str]) -> None:
    """Note a cloud submission's common files in its job root: each job's archive carries them."""
    if isinstance(context, DpCloudServerContext):
        forward = [safe_join(m) for f in submission.forward_common_files for m in expand_local(context.local_root, f)]
        context.note_common_files(forward, [safe_join(f) for f in submission.backward_common_files])
