"""CloudDouble: an HTTP server on 127.0.0.1 that answers like the DP cloud (Bohrium) API.

It speaks the endpoints and JSON envelopes dpdispatcher 1.1.0's client uses (``{"code": "0000",
"data": ...}``, return codes as in its RETCODE), plays the object storage too (``PUT``/``GET
/oss/<key>``, checking OSS's version-1 header signature with the temporary credentials it handed
out), and really runs each job (see :mod:`.jobs`). Knobs for the tests: :meth:`expire_tokens`,
:meth:`fail_next` (HTTP 5xx), :meth:`hang_next` (an answer later than the client waits, the work
done all the same), :meth:`hostile_result` (a member that escapes), :meth:`release` (a file that
held tasks wait for). :attr:`calls` logs every request as ``"METHOD /path"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from doubles.dpcloudserver.jobs import CloudJob, HostileMember

OK, TOKENINVALID, PARAMERR, PWDERR, NODATA = "0000", "2100", "2101", "2104", "2300"
BUCKET = "dpcloudserver-double"


@dataclass
class Fault:
    route: str  # "METHOD /path prefix"
    times: int
    status: int = 0
    delay: float = 0.0


class CloudDouble:
    """The double; use :meth:`started` (it stops the server and kills every job when the block ends)."""

    def __init__(self, state: Path, email: str, password: str) -> None:
        self.state = state
        self.email = email
        self.password = password
        self.tokens: set[str] = set()
        self.sts = {"AccessKeyId": "double-key", "AccessKeySecret": secrets.token_hex(16), "SecurityToken": "sts"}
        self.jobs: dict[int, CloudJob] = {}
        self.calls: list[str] = []
        self.faults: list[Fault] = []
        self.hostile: list[HostileMember] = []
        self.lock = threading.Lock()
        self._job_ids = itertools.count(1001)
        self._group_ids = itertools.count(501)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    @property
    def bucket_url(self) -> str:
        return self.url + "oss/"

    @classmethod
    @contextmanager
    def started(cls, state: Path, email: str, password: str) -> Iterator[CloudDouble]:
        double = cls(state, email, password)
        thread = threading.Thread(target=double.server.serve_forever, args=(0.05,), name="cloud-double", daemon=True)
        thread.start()
        try:
            yield double
        finally:
            double.server.shutdown()
            double.server.server_close()
            thread.join(timeout=10)
            for job in list(double.jobs.values()):
                job.kill()
                job.done.wait(timeout=10)

    # -- knobs -------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (answered with code 2100)."""
        with self.lock:
            self.tokens.clear()

    def fail_next(self, route: str, status: int = 503, times: int = 1) -> None:
        """The next ``times`` requests whose ``"METHOD /path"`` starts with ``route`` get HTTP ``status``."""
        self.faults.append(Fault(route, times, status=status))

    def hang_next(self, route: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` matching requests are carried out, but answered only after ``seconds``."""
        self.faults.append(Fault(route, times, delay=seconds))

    def hostile_result(self, name: str, link_to: str = "") -> None:
        """Every result archive made from now on also holds ``name`` (a file, or a link to ``link_to``)."""
        self.hostile.append(HostileMember(name, link_to))

    def release(self) -> None:
        """Put a file named ``release`` in every job's folder (contract tasks held by it go on)."""
        for job in self.jobs.values():
            (job.work / "release").touch()

    def count(self, route: str) -> int:
        return sum(call.startswith(route) for call in list(self.calls))

    def job_row(self, job: CloudJob) -> dict[str, Any]:
        result = f"{self.url}results/{job.job_id}.zip?Signature={secrets.token_hex(4)}" if job.result else ""
        return {
            "id": job.job_id,
            "jobGroupId": job.group_id,
            "jobName": job.name,
            "status": job.status,
            "exitCode": job.exit_code,
            "resultUrl": result,
        }

    def _take_fault(self, call: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if call.startswith(fault.route) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # -- the API -------------------------------------------------------------------------------

    def login(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("email") != self.email or body.get("password") != self.password:
            return 200, {"code": PWDERR, "message": "incorrect email or password", "data": {}}
        token = secrets.token_hex(8)
        with self.lock:
            self.tokens.add(token)
        return 200, {"code": OK, "data": {"token": token, "user_id": 7}}

    def add_job(self, body: dict[str, Any]) -> dict[str, Any]:
        urls = body.get("ossPath") or []
        if not urls or not body.get("cmd"):
            return {"code": PARAMERR, "message": "ossPath and cmd are required"}
        key = urls[0].removeprefix(self.bucket_url)
        archive = self.state / "oss" / urllib.parse.unquote(key)
        if not archive.is_file():
            return {"code": PARAMERR, "message": f"no object {key}"}
        with self.lock:
            job_id = next(self._job_ids)
            group = int(body["jobGroupId"]) if body.get("jobGroupId") else next(self._group_ids)
            job = CloudJob(
                job_id, group, str(body.get("jobName", "")), self.state / "jobs" / str(job_id), body["cmd"],
                list(body.get("outFiles") or []), hostile=list(self.hostile),
            )  # fmt: skip
            self.jobs[job_id] = job
        job.start(archive)
        return {"code": OK, "data": {"jobId": job_id, "jobGroupId": group}}

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        group = query.get("groupId")
        rows = [j for j in self.jobs.values() if group is None or str(j.group_id) == group]
        page, size = max(int(query.get("page", 1)), 1), int(query.get("pageSize", 10))
        items = [self.job_row(j) for j in rows[(page - 1) * size : page * size]]
        return {"code": OK, "data": {"items": items, "total": len(rows)}}

    def oss_signature_ok(self, method: str, key: str, headers: Any) -> bool:
        text = "\n".join(
            [
                method,
                headers.get("Content-MD5", ""),
                headers.get("Content-Type", ""),
                headers.get("Date", ""),
                f"x-oss-security-token:{headers.get('x-oss-security-token', '')}",
                f"/{BUCKET}/{key}",
            ]
        )
        digest = hmac.new(self.sts["AccessKeySecret"].encode(), text.encode(), hashlib.sha1).digest()
        expected = f"OSS {self.sts['AccessKeyId']}:{base64.b64encode(digest).decode()}"
        return hmac.compare_digest(headers.get("Authorization", ""), expected)


def _handler(double: CloudDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the double's log is :attr:`CloudDouble.calls`."""

        def _route(self) -> tuple[str, dict[str, str]]:
            parts = urllib.parse.urlsplit(self.path)
            return parts.path, dict(urllib.parse.parse_qsl(parts.query))

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _json(self, answer: Any, status: int = 200) -> None:
            self._send(status, json.dumps(answer).encode())

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def _dispatch(self, method: str) -> None:
            path, query = self._route()
            body = self._body()
            call = f"{method} {path}"
            double.calls.append(call)
            fault = double._take_fault(call)
            if fault is not None and fault.status:
                self._json({"error": "injected by the test double"}, status=fault.status)
                return
            status, content, content_type = self._answer(method, path, query, body)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            self._send(status, content, content_type)

        def _answer(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, bytes, str]:
            if path.startswith("/oss/"):
                return self._object(method, path.removeprefix("/oss/"), raw)
            if path.startswith("/results/") or path.startswith("/logs/"):
                return self._file(path)
            body = json.loads(raw or b"{}") if method == "POST" else {}
            if (method, path) == ("POST", "/account/login"):
                status, answer = double.login(body)
                return status, json.dumps(answer).encode(), "application/json"
            token = self.headers.get("Authorization", "").removeprefix("jwt ")
            if token not in double.tokens:
                return 200, json.dumps({"code": TOKENINVALID, "message": "token expired"}).encode(), "application/json"
            return 200, json.dumps(self._api(method, path, query, body)).encode(), "application/json"

        def _api(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
            parts = path.strip("/").split("/")
            if (method, path) == ("GET", "/data/get_sts_token"):
                return {"code": OK, "data": double.sts}
            if (method, path) == ("POST", "/brm/v2/job/add"):
                return double.add_job(body)
            if (method, path) == ("GET", "/brm/v1/job/list"):
                return double.list_jobs(query)
            if method == "POST" and parts[:4] == ["brm", "v1", "job", "kill"] and len(parts) == 5:
                job = double.jobs.get(int(parts[4])) if parts[4].isdigit() else None
                if job is None:
                    return {"code": NODATA, "message": "no such job"}
                job.kill()
                return {"code": OK, "data": {}}
            if method == "GET" and parts[:3] == ["brm", "v1", "job"] and len(parts) in (4, 5) and parts[3].isdigit():
                job = double.jobs.get(int(parts[3]))
                if job is None:
                    return {"code": NODATA, "message": "no such job"}
                if len(parts) == 4:
                    return {"code": OK, "data": double.job_row(job)}
                if parts[4] == "log":
                    size = job.log.stat().st_size if job.log.exists() else 0
                    return {"code": OK, "data": {"logFiles": [{"url": f"{double.url}logs/{job.job_id}", "size": size}]}}
            return {"code": PARAMERR, "message": f"the test double has no {method} {path}"}

        def _object(self, method: str, key: str, raw: bytes) -> tuple[int, bytes, str]:
            key = urllib.parse.unquote(key)
            if not double.oss_signature_ok(method, key, self.headers):
                return 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml"
            target = double.state / "oss" / key
            if method == "PUT":
                if base64.b64encode(hashlib.md5(raw).digest()).decode() != self.headers.get("Content-MD5"):
                    return 400, b"<Error><Code>InvalidDigest</Code></Error>", "application/xml"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(raw)
                return 200, b"", "application/xml"
            if not target.is_file():
                return 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml"
            return 200, target.read_bytes(), "application/octet-stream"

        def _file(self, path: str) -> tuple[int, bytes, str]:
            kind, name = path.strip("/").split("/", 1)
            number = name.removesuffix(".zip")
            job = double.jobs.get(int(number)) if number.isdigit() else None
            source = None if job is None else (job.result if kind == "results" else job.log)
            if source is None or not source.exists():
                return 404, b"not found", "text/plain"
            return 200, source.read_bytes(), "application/octet-stream"

    return Handler
