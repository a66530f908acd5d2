"""Members kept only because the published ``dpdispatcher`` API has them.

The core never calls these; scripts written for the published package do.
Machine and BaseContext inherit them from the two mixins below, so the
contract a plugin implements stays small and the old names keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext, CommandResult
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources
    from dpdispatcher.submission import Submission


class ReadableText:
    """File-like wrapper so ``block_call`` keeps the published package's return shape."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> bytes:
        return self._text.encode()

    def readlines(self) -> list[bytes]:
        return [line.encode() for line in self._text.splitlines(keepends=True)]


class ContextCompat:
    """The published BaseContext methods that take a submission or return file-likes."""

    # BaseContext, the one class this is mixed into, provides these
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
        """Fetch the backward files of every task and the backward common files."""
        self.bind_submission(submission)
        submission.download_jobs()

    def block_checkcall(self, cmd: str) -> tuple[None, ReadableText, ReadableText]:
        result = self.run(cmd).check(cmd)
        return None, ReadableText(result.stdout), ReadableText(result.stderr)

    def block_call(self, cmd: str) -> tuple[int, None, ReadableText, ReadableText]:
        result = self.run(cmd)
        return result.returncode, None, ReadableText(result.stdout), ReadableText(result.stderr)


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
