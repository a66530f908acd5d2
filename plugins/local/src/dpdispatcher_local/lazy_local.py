"""LazyLocalContext: jobs run directly in the work base; nothing is copied."""

from __future__ import annotations

import glob
import os

from dpdispatcher_local.local import LocalContext, _expand


class LazyLocalContext(LocalContext):
    """The remote root *is* the local work base: no upload, no download.

    Cleaning removes only the files dpdispatcher wrote (scripts, tags, ids), never the user's.
    """

    def bind_submission(self, submission) -> None:
        self.submission = submission
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, submission.work_base))
        self.remote_root = self.local_root
        os.makedirs(self.remote_root, exist_ok=True)

    def upload_files(self, files: list[str], dirs: list[str] = ()) -> None:
        for d in dirs:
            os.makedirs(os.path.join(self.remote_root, d), exist_ok=True)

    def download_files(self, patterns: list[str]) -> list[str]:
        return [p for p in patterns if not _expand(self.remote_root, p)]

    def clean(self) -> None:
        submission = self.submission
        if submission is None:
            return
        names = [f"{submission.submission_hash}.json"]
        for job in submission.belonging_jobs:
            names += [job.script_file_name, job.finish_tag, job.job_id_file, f"{job.job_hash}.out"]
            for task in job.job_task_list:
                names += [task.finish_tag, task.fail_file]
            names += [os.path.basename(p) for p in glob.glob(os.path.join(self.remote_root, f"{job.job_id_file}.*"))]
        for name in names:
            path = os.path.join(self.remote_root, name)
            if os.path.lexists(path):
                os.unlink(path)
