"""The DP cloud's job API: create, list, inspect and kill jobs, move archives (the published ``API``).

The endpoints and payloads are those dpdispatcher 1.1.0's client uses:

==========================================  ===================================================
``POST /account/login``                     email and password -> token (:mod:`.transport`)
``GET  /data/get_sts_token``                storage credentials for the archives (:mod:`.oss`)
``POST /brm/v2/job/add``                    create a job -> ``jobId``, ``jobGroupId``
``GET  /brm/v1/job/list``                   the jobs of a group, a page at a time
``GET  /brm/v1/job/{id}``                   one job: ``status``, ``exitCode``, ``resultUrl``
``GET  /brm/v1/job/{id}/log``               where the job's log is
``POST /brm/v1/job/kill/{id}``              cancel a job
==========================================  ===================================================

A job id as dpdispatcher records it is ``<jobId>:job_group_id:<jobGroupId>`` (1.1.0's form).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from dpdispatcher_dpcloudserver import oss
from dpdispatcher_dpcloudserver.errors import CloudError, RequestInfoException
from dpdispatcher_dpcloudserver.payload import job_payload
from dpdispatcher_dpcloudserver.retcode import RETCODE
from dpdispatcher_dpcloudserver.settings import Endpoints
from dpdispatcher_dpcloudserver.transport import CloudSession

__all__ = ["API", "RETCODE", "Client", "RequestInfoException", "job_id_of", "split_job_id"]

JOB_ADD = "/brm/v2/job/add"
JOB_LIST = "/brm/v1/job/list"
GROUP_SEPARATOR = ":job_group_id:"
#: a job id as recorded: ``<jobId>:job_group_id:<jobGroupId>``
RECORDED_ID = re.compile(r"([0-9]+)" + GROUP_SEPARATOR + r"([0-9]+)")


def job_id_of(job_id: int | str, group_id: int | str) -> str:
    return f"{job_id}{GROUP_SEPARATOR}{group_id}"


def split_job_id(recorded: str | int) -> tuple[int, int | None]:
    """``"12:job_group_id:3"`` -> ``(12, 3)``; a bare ``"12"`` -> ``(12, None)``."""
    text = str(recorded)
    match = RECORDED_ID.fullmatch(text)
    if match:
        return int(match.group(1)), int(match.group(2))
    if text.isdigit():
        return int(text), None
    raise ValueError(f"{text!r} is not a DP cloud job id (expected <jobId>{GROUP_SEPARATOR}<jobGroupId>)")


class API(CloudSession):
    """A logged-in client of the DP cloud. ``API(email, password)``; the password may also come from
    ``DPDISPATCHER_BOHRIUM_PASSWORD`` when the machine config builds it."""

    # -- the generic calls -------------------------------------------------------------------

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """``GET`` an API path; the ``data`` of the answer."""
        return self.call("GET", url, params=params)

    def post(self, url: str, params: Any = None) -> Any:
        """``POST`` a JSON body to an API path; the ``data`` of the answer. Not sent twice after a lost answer."""
        return self.call("POST", url, body=params or {}, idempotent=False)

    def refresh_token(self) -> None:
        self.login()

    # -- archives ----------------------------------------------------------------------------

    def sts_token(self) -> oss.StsToken:
        return oss.StsToken.from_answer(self.get(oss.STS_PATH))

    def upload(
        self, oss_task_zip: str, zip_task_file: str, endpoint: str | None = None, bucket_name: str | None = None
    ) -> str:
        """Put the archive ``zip_task_file`` in the bucket as ``oss_task_zip``; return its URL.

        ``endpoint`` and ``bucket_name`` (the published signature's) name another bucket than the configured one.
        """
        return oss.put_object(self._for_bucket(endpoint, bucket_name), self.sts_token(), oss_task_zip, zip_task_file)

    def download(
        self, oss_file: str, save_file: str, endpoint: str | None = None, bucket_name: str | None = None
    ) -> str:
        return oss.get_object(self._for_bucket(endpoint, bucket_name), self.sts_token(), oss_file, save_file)

    def _for_bucket(self, endpoint: str | None, bucket_name: str | None) -> CloudSession:
        if not endpoint or not bucket_name:
            return self
        parts = urllib.parse.urlsplit(endpoint)
        other = Endpoints(
            self.endpoints.api_host,
            f"{parts.scheme}://{bucket_name}.{parts.netloc}/",
            bucket_name,
            self.endpoints.timeout,
        )
        session = CloudSession(self.email, None, endpoints=other, retries=self.retries, retry_delay=self.retry_delay)
        session.session = self.session
        return session

    def download_from_url(self, url: str, save_file: str) -> None:
        """Save what ``url`` (a job's ``resultUrl``) holds; the login token goes only to the API host."""
        same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.endpoints.api_host).netloc
        headers = {"Authorization": f"jwt {self.token}"} if same_host and self.token else {}
        response = self.send("GET", url, headers=headers)
        if not response.ok:
            raise CloudError(f"downloading {url} was refused with HTTP {response.status_code}: {response.text[:300]}")
        with open(save_file, "wb") as f:
            f.write(response.content)

    # -- jobs --------------------------------------------------------------------------------------

    def job_create(
        self,
        job_type: str,
        oss_path: str | list[str],
        input_data: dict[str, Any],
        program_id: int | None = None,
        group_id: int | None = None,
    ) -> tuple[int, int | None]:
        """Create a job running ``input_data["command"]`` on the archive(s) ``oss_path``; return
        ``(jobId, jobGroupId)``. Never sent twice: an answer lost on the way is an error saying so."""
        paths = [oss_path] if isinstance(oss_path, str) else list(oss_path)
        body = job_payload(job_type, paths, input_data, program_id, group_id)
        data = self.post(JOB_ADD, body) or {}
        if "jobId" not in data:
            raise CloudError(f"{JOB_ADD} answered without a jobId: {str(data)[:300]}")
        return int(data["jobId"]), data.get("jobGroupId")

    job_create_v2 = job_create

    def get_job_detail(self, job_id: int | str) -> dict[str, Any] | None:
        """One job's record (``status``, ``exitCode``, ``resultUrl``, ...); None when the cloud has no such job."""
        number, _group = split_job_id(job_id)
        try:
            return dict(self.get(f"/brm/v1/job/{number}") or {})
        except CloudError as err:
            if err.code == RETCODE.NODATA:
                return None
            raise

    def get_tasks(self, job_id: int | str) -> list[dict[str, Any]]:
        """The published form of :meth:`get_job_detail`: a list of the one job's record (empty if unknown)."""
        detail = self.get_job_detail(job_id)
        return [detail] if detail is not None else []

    def get_tasks_v2(self, job_id: int | str, group_id: int | str) -> list[dict[str, Any]]:
        return self.get_tasks(job_id_of(split_job_id(job_id)[0], group_id))

    def get_tasks_v2_list(self, group_id: int | str, per_page: int = 30) -> list[dict[str, Any]]:
        """Every job of a group: one request when the group holds at most ``per_page`` jobs."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.get(JOB_LIST, {"groupId": group_id, "page": page, "pageSize": per_page}) or {}
            items = list(data.get("items") or [])
            rows += items
            total = data.get("total")
            if not items or len(items) < per_page or (total is not None and len(rows) >= int(total)):
                return rows
            page += 1

    get_tasks_list = get_tasks_v2_list

    def get_jobs(self, page: int = 1, per_page: int = 10) -> list[dict[str, Any]]:
        """One page of the account's jobs, newest first."""
        data = self.get(JOB_LIST, {"page": page, "pageSize": per_page}) or {}
        return list(data.get("items") or [])

    def get_job_result_url(self, job_id: int | str) -> str | None:
        detail = self.get_job_detail(job_id) or {}
        return detail.get("resultUrl") or None

    def get_log(self, job_id: int | str) -> str:
        """The job's log as it is now ("" when it has none yet)."""
        number, _group = split_job_id(job_id)
        files = (self.get(f"/brm/v1/job/{number}/log", {"pageSize": 1}) or {}).get("logFiles") or []
        if not files:
            return ""
        response = self.send("GET", files[0]["url"])
        return response.text if response.ok else ""

    def kill(self, job_id: int | str) -> None:
        """Cancel a job (sent again after a lost answer: cancelling twice does no harm)."""
        number, _group = split_job_id(job_id)
        self.call("POST", f"/brm/v1/job/kill/{number}", body={})


#: dpdispatcher 1.1.0's name of the client
Client = API
