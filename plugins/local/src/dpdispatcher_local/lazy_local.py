"""LazyLocalContext: jobs run directly in the work base; nothing is copied."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from dargs import Argument

from dpdispatcher.base_context import BaseContext
from dpdispatcher_local.local import LocalContext, _expand
from dpdispatcher_local.removing import unlink_all

if TYPE_CHECKING:
    from dpdispatcher.submission import Submission


class LazyLocalContext(LocalContext):
    """The job root *is* the local work base: no upload, no download.

    Cleaning removes only the files dpdispatcher wrote (scripts, tags, ids), never the user's.
    """

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        return BaseContext.machine_subfields()  # nothing is staged: no symlink option

    def bind(self, work_base: str, submission_hash: str) -> None:
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, work_base))
        self.remote_root = self.local_root
        os.makedirs(self.remote_root, exist_ok=True)

    def job_root(self, submission_hash: str) -> str:
        """Every submission of the bound work base runs in it."""
        return self.local_root

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        for d in dirs:
            os.makedirs(os.path.join(self.remote_root, d), exist_ok=True)

    def download_files(self, patterns: list[str]) -> list[str]:
        return [p for p in patterns if not _expand(self.remote_root, p)]

    def upload(self, submission: Submission, dereference: bool = True) -> None:
        """Published form: the files are where the jobs run already, so this only binds the submission
        (the published package checks nothing either)."""
        self.bind_submission(submission)

    def download(
        self,
        submission: Submission,
        check_exists: bool = False,
        mark_failure: bool = True,
        back_error: bool = False,
    ) -> None:
        """Published form: the results are in the work base already, so this only binds the submission
        (the published package neither checks them nor leaves failure tags)."""
        self.bind_submission(submission)

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the ``generated`` files from the work base; everything else there is the user's."""
        unlink_all([os.path.join(self.remote_root, name) for name in generated])

    def clean_finished(self, generated: Collection[str], task_dirs: Collection[str]) -> None:
        """Remove finished jobs' ``generated`` files; the task directories are the user's and stay."""
        self.clean(generated)
