"""LazyLocalContext: jobs run directly in the work base; nothing is copied."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

from dpdispatcher_local.local import LocalContext, _expand


class LazyLocalContext(LocalContext):
    """The job root *is* the local work base: no upload, no download.

    Cleaning removes only the files dpdispatcher wrote (scripts, tags, ids), never the user's.
    """

    def bind(self, work_base: str, submission_hash: str) -> None:
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, work_base))
        self.remote_root = self.local_root
        os.makedirs(self.remote_root, exist_ok=True)

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        for d in dirs:
            os.makedirs(os.path.join(self.remote_root, d), exist_ok=True)

    def download_files(self, patterns: list[str]) -> list[str]:
        return [p for p in patterns if not _expand(self.remote_root, p)]

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the ``generated`` files from the work base; everything else there is the user's."""
        for name in generated:
            try:
                os.unlink(os.path.join(self.remote_root, name))
            except FileNotFoundError:
                pass
