"""DpCloudServerContext: the job root is a staging directory on this machine; jobs travel as zip archives.

The core keeps what it keeps in any job root here (scripts, job ids, tags, the record, the
driver's lock), so everything it does through a context works unchanged. The DpCloudServer
machine packs each job from this directory into one archive, and extracts each result archive
back into it; ``download_files`` then copies the results to the work base as LocalContext does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from dargs import Argument

from dpdispatcher.records import atomic_write_text, dpdispatcher_home
from dpdispatcher_dpcloudserver.api import API
from dpdispatcher_dpcloudserver.profile import remote_profile_args
from dpdispatcher_dpcloudserver.settings import PASSWORD_ENV
from dpdispatcher_local import LocalContext

#: the context's own bookkeeping, a folder in the job root
BOOKKEEPING = ".dpd_cloud"
COMMON_FILES = f"{BOOKKEEPING}/common.json"


class DpCloudServerContext(LocalContext):
    """Files of DP cloud (Bohrium) jobs: staged on this machine, sent and fetched as one zip per job.

    ``remote_root`` is where the staging job roots go (default ``$DPDISPATCHER_HOME/dp_cloud_server``).
    """

    def __init__(
        self, local_root: str | None = None, remote_root: str | None = None, remote_profile: dict | None = None
    ) -> None:
        super().__init__(local_root, remote_root, remote_profile)
        self.symlink = False  # results are extracted here: never next to a link into the user's files
        self._api: API | None = None

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        return remote_profile_args()

    @property
    def api(self) -> API:
        """The logged-in client (created on first use; it logs in on its first call)."""
        if self._api is None:
            password = self.remote_profile.get("password") or os.environ.get(PASSWORD_ENV)
            self._api = API(self.remote_profile.get("email"), password)
        return self._api

    @property
    def program_id(self) -> int | None:
        value = self.remote_profile.get("program_id", self.remote_profile.get("project_id"))
        return int(value) if value is not None else None

    @property
    def input_data(self) -> dict:
        return dict(self.remote_profile.get("input_data") or {})

    def job_root(self, submission_hash: str) -> str:
        base = self.init_remote_root or str(dpdispatcher_home() / "dp_cloud_server")
        return os.path.join(base, submission_hash)

    def note_common_files(self, forward: Sequence[str], backward: Sequence[str]) -> None:
        """Remember the submission's common files: every job's archive carries the forward ones, and every
        job sends the backward ones back."""
        text = json.dumps({"forward": list(forward), "backward": list(backward)})
        atomic_write_text(os.path.join(self.remote_root, COMMON_FILES), text, durable=False)

    def common_files(self) -> tuple[list[str], list[str]]:
        """(forward, backward) common files noted for this job root; none when nothing was noted."""
        try:
            with open(os.path.join(self.remote_root, COMMON_FILES)) as f:
                noted = json.load(f)
        except FileNotFoundError:
            return [], []
        return list(noted["forward"]), list(noted["backward"])

    def bookkeeping(self, name: str) -> str:
        """The path of ``name`` in the context's own folder of the job root (created if needed)."""
        folder = os.path.join(self.remote_root, BOOKKEEPING)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, name)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
