"""Errors of the DP cloud client. Messages name the request and never hold a password or a token."""

from __future__ import annotations

from dpdispatcher.errors import SchedulerError


class CloudError(SchedulerError):
    """A request to the DP cloud failed.

    ``transient`` is true when asking again later may work (the service did not answer, or
    answered 5xx, after every retry); ``code`` is the API's return code when it sent one.
    """

    def __init__(self, message: str, *, transient: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class CloudLoginError(CloudError):
    """The DP cloud refused the account's email and password (or the password is missing)."""


#: the published name (``dpdispatcher.dpcloudserver.client.RequestInfoException``)
RequestInfoException = CloudError
