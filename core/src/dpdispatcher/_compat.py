"""Members kept only because the published ``dpdispatcher`` API has them.

The core never calls these; scripts written for the published package do.
Machine and BaseContext inherit them from the two mixins below, so the
contract a plugin implements stays small and the old names keep working.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpdispatcher.paths import safe_join

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext, CommandResult
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources
    from dpdispatcher.submission import Submission


class ReadableText:
    """The file-like output streams of the published ``block_call``: ``read()`` gives bytes,
    ``readlines()`` decoded lines, each ending in a newline."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @classmethod
    def from_text(cls, text: str) -> ReadableText:
        return cls(text.encode())

    def read(self) -> bytes:
        return self._data

    def readlines(self) -> list[str]:
        return [line + "\n" for line in self._data.decode(errors="replace").splitlines()]


def failure_tag_name(pattern: str) -> str:
    """The empty file the published ``download(check_exists=True)`` leaves for a backward file that is missing.

    It sits in the task's directory on this machine: ``tag_failure_download_`` and the pattern
    with every character but letters, digits, ``.``, ``-`` and ``_`` made ``_`` (``sub/*.log``
    gives ``tag_failure_download_sub__.log``).
    """
    parts = pattern.replace("\\", "/").split("/")
    normalized = "/".join(part for part in parts if part not in ("", "."))
    return "tag_failure_download_" + "".join(c if c.isalnum() or c in ".-_" else "_" for c in normalized)


class ContextCompat:
    """The published BaseContext methods that take a submission or return file-likes."""

    # BaseContext, the one class this is mixed into, provides these
    local_root: str
    remote_root: str

    if TYPE_CHECKING:

        def bind(self, work_base: str, submission_hash: str) -> None: ...

        def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult: ...

    def bind_submission(self, submission: Submission) -> None:
        """Published form of :meth:`BaseContext.bind`."""
        self.bind(submission.work_base, submission.submission_hash)

    def get_job_root(self) -> str:
        return self.remote_root

    def upload(self, submission: Submission) -> None:
        """Send the submission's forward files and common files to the job root."""
        self.bind_submission(submission)
        submission.upload_jobs()

    def download(
        self,
        submission: Submission,
        check_exists: bool = False,
        mark_failure: bool = True,
        back_error: bool = False,
    ) -> None:
        """Fetch the backward files of every task and the backward common files.

        As the published package: a backward file that is missing is a ``FileNotFoundError``
        (:class:`MissingBackwardFileError`); with ``check_exists`` it is not, and with
        ``mark_failure`` too an empty :func:`failure_tag_name` file is left where it was
        expected; ``back_error`` also fetches the ``error*`` files of every task directory and of
        the work base. Unlike the published package, everything that exists is fetched before the
        error is raised.
        """
        self.bind_submission(submission)
        wanted = [(safe_join(t.task_work_path), p) for t in submission.belonging_tasks for p in t.backward_files]
        wanted += [(".", p) for p in submission.backward_common_files]
        missing = set(submission._fetch([safe_join(d, p) for d, p in wanted]))
        if back_error:
            submission._fetch([safe_join(d, "error*") for d in [*submission.task_dirs(), "."]])
        lost = [(d, p) for d, p in wanted if safe_join(d, p) in missing]
        if not check_exists:
            submission._raise_missing([safe_join(d, p) for d, p in lost])
        elif mark_failure:
            for directory, pattern in lost:
                tag = Path(self.local_root, directory, failure_tag_name(pattern))
                tag.parent.mkdir(parents=True, exist_ok=True)
                tag.write_bytes(b"")

    def block_checkcall(self, cmd: str, asynchronously: bool = False) -> tuple[None, ReadableText, ReadableText]:
        """Run ``cmd``; raise :class:`SchedulerError` (a ``RuntimeError``) if it fails.

        ``asynchronously`` starts it under ``nohup`` in the background and returns while it runs (its
        output goes nowhere, so that nothing holds the call open until it ends).
        """
        if asynchronously:
            cmd = f"nohup {cmd} >/dev/null 2>&1 &"
        result = self.run(cmd).check(cmd)
        return None, ReadableText.from_text(result.stdout), ReadableText.from_text(result.stderr)

    def block_call(self, cmd: str) -> tuple[int, None, ReadableText, ReadableText]:
        result = self.run(cmd)
        return result.returncode, None, ReadableText.from_text(result.stdout), ReadableText.from_text(result.stderr)


class MachineCompat:
    """The published Machine methods the core replaced with batched or script-level forms."""

    context: BaseContext

    def gen_script_wait(self, resources: Resources) -> str:
        """The line that waits for a job's background tasks."""
        return "wait"

    def check_finish_tag(self, job: Job) -> bool:
        """Whether ``job`` left its finished tag (the core asks for all jobs at once instead)."""
        return self.context.check_file_exists(job.finish_tag)

    def check_if_recover(self, submission: Any) -> bool:
        """Whether the job root holds a record of ``submission`` (the core reads the local record first)."""
        return self.context.check_file_exists(f"{submission.submission_hash}.json")
