"""HDFSContext: the job root is a directory on HDFS; files move with ``hadoop fs`` on this machine.

HDFS has no shell, so a submission lives in two places:

* the **job root** on HDFS, ``remote_root/<submission hash>``: the inputs (one archive per
  submission, ``<hash>_upload.tgz``), the job scripts, the records, and what the jobs leave:
  the tags of tasks and jobs, fail files, each job's output and its result archive;
* the **control directory** on this machine, ``$DPDISPATCHER_HOME/hdfs/<submission hash>``,
  where :meth:`HDFSContext.run` runs commands (the ``hadoop``/``yarn`` clients are here): the
  driver's lock, the recorded job ids, and the extracted result archives.

Every ``hadoop fs`` failure is raised with the command line and its stderr. A command about many
files names them all (``-ls d1 d2 …``, ``-put f1 f2 … dir``) in as few commands as the command budget
allows: a real ``hadoop`` call starts a JVM.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Collection, Sequence

from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.errors import ConfigError, UnsafePathError
from dpdispatcher.records import atomic_write_text, dpdispatcher_home
from dpdispatcher_hadoop import archives
from dpdispatcher_hadoop.hdfs_cli import (
    TRANSFER_TIMEOUT,
    FsResult,
    failure,
    hadoop_fs,
    hadoop_fs_many,
    list_dirs,
    name_in,
    require_hadoop,
)
from dpdispatcher_hadoop.local_copy import bring_back, expand

#: what a job's container leaves: one archive of its task directories and tags
RESULT_SUFFIX = "_result.tgz"


def upload_archive_name(submission_hash: str) -> str:
    return f"{submission_hash}_upload.tgz"


def result_archive_name(job_hash: str) -> str:
    return f"{job_hash}{RESULT_SUFFIX}"


class HDFSContext(BaseContext):
    """Job root on HDFS (``remote_root`` is an absolute HDFS path or an ``hdfs://`` URI)."""

    is_local = False

    def __init__(
        self, local_root: str | None = None, remote_root: str | None = None, remote_profile: dict | None = None
    ) -> None:
        super().__init__(local_root, remote_root, remote_profile)
        self.submission_hash = ""
        self.control_root = ""

    def bind(self, work_base: str, submission_hash: str) -> None:
        """Point at one submission; make its job root on HDFS and its control directory here."""
        root = self.init_remote_root or ""
        if not (root.startswith("/") or "://" in root):
            raise ConfigError(
                f"machine/remote_root for HDFSContext must be an absolute HDFS path or an hdfs:// URI, got {root!r}"
            )
        require_hadoop()
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, work_base))
        self.remote_root = self.job_root(submission_hash)
        self.submission_hash = submission_hash
        self.control_root = str(dpdispatcher_home() / "hdfs" / submission_hash)
        os.makedirs(self.control_root, exist_ok=True)
        hadoop_fs(["-mkdir", "-p", self.remote_root])

    def job_root(self, submission_hash: str) -> str:
        return posixpath.join(self.init_remote_root or "", submission_hash)

    @property
    def upload_archive(self) -> str:
        """The name (in the job root) of the archive that carries the submission's inputs."""
        return upload_archive_name(self.submission_hash)

    def remote_path(self, fname: str) -> str:
        """``fname`` (relative to the job root) as an HDFS path."""
        if fname in ("", "."):
            return self.remote_root
        if posixpath.isabs(fname) or posixpath.normpath(fname).split("/")[0] == "..":
            raise UnsafePathError(f"{fname!r} is not a path inside the job root {self.remote_root}")
        return posixpath.join(self.remote_root, posixpath.normpath(fname))

    # -- transfer ------------------------------------------------------------------------------

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        """Put every file and tree (and the ``dirs``) into the job root as ONE archive, with one ``-put``."""
        with tempfile.TemporaryDirectory(dir=self.control_root) as staging:
            archive = os.path.join(staging, self.upload_archive)
            archives.make_upload(archive, self.local_root, files, dirs)
            hadoop_fs(["-put", "-f", archive, self.remote_path(self.upload_archive)], timeout=TRANSFER_TIMEOUT)

    def download_files(self, patterns: list[str]) -> list[str]:
        """Bring back what ``patterns`` match in the jobs' result archives; return the patterns that matched nothing.

        Archives new or changed since the last call are fetched (one ``-get`` for all) and
        extracted, checked, under the control directory; a refused archive is reported after
        everything else was brought back.
        """
        refused = self._fetch_results()
        tree = self._results_tree()
        missing, links = [], []
        for pattern in patterns:
            matches = expand(tree, pattern)
            if not matches:
                missing.append(pattern)
            for rel in matches:
                links += bring_back(tree, self.local_root, rel)
        problems = refused + ([f"links out of the job root not brought back: {', '.join(links[:20])}"] if links else [])
        if problems:
            raise UnsafePathError("; ".join(problems))
        return missing

    def _results_tree(self) -> str:
        return os.path.join(self.control_root, "results", "tree")

    def _fetch_results(self) -> list[str]:
        """Fetch and extract the result archives that changed; return why any was refused."""
        results = os.path.join(self.control_root, "results")
        index_file = os.path.join(results, "index.json")
        index: dict[str, str] = {}  # archive name -> "size mtime" of the copy extracted last
        if os.path.exists(index_file):
            with open(index_file) as f:
                index = json.load(f)
        present = self._result_archives()
        changed = sorted(name for name, stamp in present.items() if index.get(name) != stamp)
        if not changed:
            return []
        incoming = os.path.join(results, "incoming")
        shutil.rmtree(incoming, ignore_errors=True)
        os.makedirs(incoming)
        hadoop_fs_many(["-get", "-f"], [self.remote_path(n) for n in changed], [incoming], timeout=TRANSFER_TIMEOUT)
        refused = []
        for name in changed:
            try:
                archives.extract_checked(os.path.join(incoming, name), self._results_tree())
            except UnsafePathError as err:
                refused.append(str(err))
            index[name] = present[name]
        atomic_write_text(index_file, json.dumps(index), durable=False)
        shutil.rmtree(incoming, ignore_errors=True)
        return refused

    def _result_archives(self) -> dict[str, str]:
        """Result archives in the job root: name -> "size mtime" (``-stat``, milliseconds: a retry differs)."""
        pattern = self.remote_path("*" + RESULT_SUFFIX)
        result = hadoop_fs(["-stat", "%b %Y %n", pattern], check=False)
        if result.returncode != 0 and not _only_missing(result, "stat"):
            raise failure(["-stat", "%b %Y %n", pattern], result)
        stamps = {}
        for line in result.stdout.splitlines():
            size, mtime, name = [*line.split(" ", 2), "", ""][:3]
            if name.endswith(RESULT_SUFFIX):
                stamps[name] = f"{size} {mtime}"
        return stamps

    # -- files and commands ----------------------------------------------------------------------

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        """Run ``cmd`` with bash on this machine, in the submission's control directory (HDFS has no shell)."""
        return CommandResult.of_local_bash(cmd, self.control_root or self.init_local_root, timeout, stdin)

    def write_file(self, fname: str, write_str: str) -> None:
        self.write_files({fname: write_str})

    def write_files(self, files: dict[str, str]) -> None:
        """Write the files (replacing them) with one ``-put`` per directory they go to (and one ``-mkdir -p``)."""
        by_dir: dict[str, list[str]] = {}
        for fname in files:
            by_dir.setdefault(posixpath.dirname(posixpath.normpath(fname)), []).append(fname)
        nested = sorted(d for d in by_dir if d)
        if nested:
            hadoop_fs_many(["-mkdir", "-p"], [self.remote_path(d) for d in nested])
        with tempfile.TemporaryDirectory(dir=self.control_root or None) as staging:
            for directory, names in sorted(by_dir.items()):
                local = []
                for i, fname in enumerate(names):  # a directory per file: their base names may repeat
                    path = os.path.join(staging, directory, str(i), posixpath.basename(fname))
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as f:
                        f.write(files[fname])
                    local.append(path)
                hadoop_fs_many(["-put", "-f"], local, [self.remote_path(directory) + "/"], timeout=TRANSFER_TIMEOUT)

    def read_file(self, fname: str) -> str:
        return hadoop_fs(["-cat", self.remote_path(fname)], timeout=TRANSFER_TIMEOUT).stdout

    def check_file_exists(self, fname: str) -> bool:
        args = ["-test", "-e", self.remote_path(fname)]
        result = hadoop_fs(args, check=False)
        if result.returncode not in (0, 1) or (result.returncode == 1 and result.stderr.strip()):
            raise failure(args, result)  # not an answer: the command could not ask
        return result.returncode == 0

    def files_exist(self, fnames: list[str]) -> set[str]:
        """Which of ``fnames`` exist: one ``-ls`` of their directories (split only beyond the command budget)."""
        wanted = {posixpath.normpath(f): f for f in fnames if f not in ("", ".")}
        found = {f for f in fnames if f in ("", ".") and self.check_file_exists(".")}
        dirs = sorted({posixpath.dirname(name) for name in wanted})
        if dirs:
            for entry in list_dirs([self.remote_path(d) for d in dirs]):
                name = name_in(self.remote_root, entry.path)
                if name in wanted:
                    found.add(wanted[name])
        return found

    def clean_finished(self, generated: Collection[str], task_dirs: Collection[str]) -> None:
        """Keep finished jobs' files for :meth:`clean`: each ``hadoop fs`` command starts a JVM (seconds),
        more than removing them with the whole job root at the end costs."""

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the job root on HDFS and the control directory here."""
        hadoop_fs(["-rm", "-r", "-f", self.remote_root])
        if self.control_root:
            shutil.rmtree(self.control_root, ignore_errors=True)


def _only_missing(result: FsResult, command: str) -> bool:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return bool(lines) and all(
        line.startswith(f"{command}: ") and line.rstrip().endswith("No such file or directory") for line in lines
    )
