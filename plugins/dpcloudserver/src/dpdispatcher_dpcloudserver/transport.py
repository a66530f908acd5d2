"""One HTTP session with the DP cloud: timeouts, retries with backoff, the JSON envelope, the login token.

Every answer of the API is ``{"code": "0000", "data": ..., "message": ...}`` (see
:mod:`.retcode`). The token from ``POST /account/login`` goes in ``Authorization: jwt <token>``;
the client logs in on its first call and again only when the service says the token expired
(code ``2100`` or HTTP 401), then repeats that call once.

Retries: a request that gets no answer (a connection error, a timeout) or a 5xx/429 answer is
sent again after ``retry_delay`` seconds, doubling, up to ``retries`` times. A request that
creates something (``idempotent=False``) is sent again only when it certainly did not arrive
(the connection could not be opened, or 429/502/503); after an answer lost in any other way it
fails with a message saying the call may have taken effect.

Nothing here logs or raises with a request body, so the password never reaches a log line or an
error message; the token is sent only to the API host.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from typing import Any

import requests

from dpdispatcher_dpcloudserver.errors import CloudError, CloudLoginError
from dpdispatcher_dpcloudserver.retcode import RETCODE, code_name
from dpdispatcher_dpcloudserver.settings import PASSWORD_ENV, Endpoints

logger = logging.getLogger(__name__)

LOGIN_PATH = "/account/login"
#: answers after which a request that creates something was certainly not carried out
NOT_CARRIED_OUT = frozenset({429, 502, 503})
#: seconds before the first retry (doubling each time, up to MAX_DELAY)
FIRST_RETRY_DELAY = 1.0
MAX_DELAY = 30.0


class CloudSession:
    """Authenticated calls to the DP cloud API (see the module docstring)."""

    def __init__(
        self,
        email: str | None,
        password: str | None,
        *,
        endpoints: Endpoints | None = None,
        retries: int = 3,
        retry_delay: float | None = None,
    ) -> None:
        self.email = email
        self.__password = password
        self.endpoints = endpoints or Endpoints.from_environment()
        self.retries = retries
        self.retry_delay = FIRST_RETRY_DELAY if retry_delay is None else retry_delay
        self.session = requests.Session()
        self.token = ""
        self.user_id: Any = None
        #: how often this client logged in (tests check that an expired token costs one login)
        self.logins = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(email={self.email!r}, host={self.endpoints.api_host!r})"

    def close(self) -> None:
        self.session.close()

    # -- the API ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.endpoints.api_host, path.lstrip("/"))

    def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None, idempotent: bool = True
    ) -> Any:
        """Send one API request and return the ``data`` of its answer; log in first if needed."""
        if not self.token:
            self.login()
        answer = self._envelope(method, path, params, body, idempotent)
        if answer.get("code") == RETCODE.TOKENINVALID:
            logger.info("the DP cloud token expired; logging in again")
            self.login()
            answer = self._envelope(method, path, params, body, idempotent)
        return self._data(answer, method, path)

    def login(self) -> None:
        """Exchange the email and password for a token (one request)."""
        if not self.email or not self.__password:
            missing = "email" if not self.email else "password"
            raise CloudLoginError(
                f"cannot log in to the DP cloud at {self.endpoints.api_host}: no {missing} (set remote_profile/email, "
                f"and remote_profile/password or the environment variable {PASSWORD_ENV})"
            )
        self.token = ""
        answer = self._envelope(
            "POST", LOGIN_PATH, None, {"email": self.email, "password": self.__password}, True, authorized=False
        )
        if answer.get("code") != RETCODE.OK:
            raise CloudLoginError(
                f"the DP cloud at {self.endpoints.api_host} refused the login of {self.email}: "
                f"code {code_name(answer.get('code'))}: {_message(answer)}. Check remote_profile/email and the "
                f"password (remote_profile/password or {PASSWORD_ENV})",
                code=str(answer.get("code", "")),
            )
        data = answer.get("data") or {}
        if not data.get("token"):
            raise CloudLoginError(f"the DP cloud at {self.endpoints.api_host} answered the login without a token")
        self.token = str(data["token"])
        self.user_id = data.get("user_id")
        self.logins += 1
        logger.debug("logged in to the DP cloud as %s", self.email)

    # -- HTTP -----------------------------------------------------------------------------------

    def _envelope(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: Any,
        idempotent: bool,
        authorized: bool = True,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"jwt {self.token}"} if authorized else {}
        response = self.send(method, self.url(path), idempotent=idempotent, params=params, json=body, headers=headers)
        if response.status_code == 401:
            return {"code": RETCODE.TOKENINVALID, "message": "HTTP 401"}
        if not response.ok:
            raise CloudError(
                f"{method} {self.url(path)} was refused with HTTP {response.status_code}: {response.text[:300]}",
                transient=False,
            )
        try:
            answer = response.json()
        except ValueError:
            raise CloudError(
                f"{method} {self.url(path)} answered something that is not JSON: {response.text[:300]!r}"
            ) from None
        if not isinstance(answer, dict) or "code" not in answer:
            raise CloudError(f"{method} {self.url(path)} answered JSON without a return code: {str(answer)[:300]}")
        code = str(answer["code"])
        answer["code"] = RETCODE.OK if code == "0" else code  # some services answer a bare 0
        return answer

    @staticmethod
    def _data(answer: dict[str, Any], method: str, path: str) -> Any:
        code = answer.get("code")
        if code != RETCODE.OK:
            raise CloudError(
                f"{method} {path} failed: code {code_name(code)}: {_message(answer)}",
                code=str(code),
                transient=code in (RETCODE.DBERR, RETCODE.THIRDERR, RETCODE.IOERR),
            )
        return answer.get("data")

    def send(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> requests.Response:
        """One HTTP request with the timeout and the retry policy of the module docstring."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), MAX_DELAY))
            try:
                response = self.session.request(method, url, timeout=self.endpoints.timeout, **kwargs)
            except requests.Timeout as err:
                last = f"no answer within {self.endpoints.timeout:g} s"
                if not idempotent and not isinstance(err, requests.ConnectTimeout):
                    raise _maybe_done(method, url, last) from None
            except requests.ConnectionError as err:
                last = f"connection failed ({type(err).__name__})"
                if not idempotent and not _never_connected(err):
                    raise _maybe_done(method, url, last) from None
            else:
                logger.debug("%s %s -> HTTP %s", method, _path_of(url), response.status_code)
                retry = response.status_code in NOT_CARRIED_OUT or (idempotent and response.status_code >= 500)
                if not retry:
                    if not idempotent and response.status_code >= 500:
                        raise _maybe_done(method, url, f"HTTP {response.status_code}")
                    return response
                last = f"HTTP {response.status_code}"
            logger.debug("%s %s: %s (attempt %d of %d)", method, _path_of(url), last, attempt + 1, self.retries + 1)
        raise CloudError(
            f"{method} {url} failed {self.retries + 1} times, the last with {last}; the DP cloud may be down or "
            f"slow (the timeout is {self.endpoints.timeout:g} s: set DPDISPATCHER_BOHRIUM_TIMEOUT to wait longer)",
            transient=True,
        )


def _never_connected(err: requests.ConnectionError) -> bool:
    """Whether the connection could not even be opened (the request was certainly not sent)."""
    text = repr(err)
    return "NewConnectionError" in text or "ConnectTimeout" in text or "Connection refused" in text


def _maybe_done(method: str, url: str, what: str) -> CloudError:
    return CloudError(
        f"{method} {url} got {what}: the DP cloud may or may not have carried it out, so it was not sent again",
        transient=False,
    )


def _message(answer: dict[str, Any]) -> str:
    return str(answer.get("message") or answer.get("error") or "no message")


def _path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path
