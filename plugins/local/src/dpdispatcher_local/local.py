"""LocalContext: jobs run in a separate directory on this machine; files are copied (or symlinked)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Collection, Sequence

from dargs import Argument

from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.errors import UnsafePathError
from dpdispatcher.paths import is_glob
from dpdispatcher.records import atomic_write_text
from dpdispatcher_local.copying import bring_back, copy_file, write_atomically


class LocalContext(BaseContext):
    """The remote root is a directory on this machine (``remote_root/<submission hash>``)."""

    is_local = True

    def __init__(
        self, local_root: str | None = None, remote_root: str | None = None, remote_profile: dict | None = None
    ) -> None:
        super().__init__(local_root, remote_root, remote_profile)
        self.symlink = bool(self.remote_profile.get("symlink", False))

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        return [
            Argument(
                "remote_profile",
                dict,
                [
                    Argument(
                        "symlink",
                        bool,
                        optional=True,
                        default=False,
                        doc="Symlink the forward files into the remote root instead of copying them.",
                    )
                ],
                optional=True,
                default={},
                doc="The information used to maintain the connection with remote machine.",
            )
        ]

    def bind(self, work_base: str, submission_hash: str) -> None:
        super().bind(work_base, submission_hash)
        self.remote_root = os.path.abspath(self.remote_root)
        os.makedirs(self.remote_root, exist_ok=True)

    # -- transfer ------------------------------------------------------------

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        for d in dirs:
            os.makedirs(os.path.join(self.remote_root, d), exist_ok=True)
        for rel in files:
            src = os.path.join(self.local_root, rel)
            dst = os.path.join(self.remote_root, rel)
            _place(src, dst, link=self.symlink)

    def download_files(self, patterns: list[str]) -> list[str]:
        """Bring every match back (see :mod:`dpdispatcher_local.copying`); links leaving the job root are refused
        after everything else arrived."""
        missing, refused = [], []
        for pattern in patterns:
            matches = _expand(self.remote_root, pattern)
            if not matches:
                missing.append(pattern)
            for rel in matches:
                refused += bring_back(self.remote_root, self.local_root, rel)
        if refused:
            raise UnsafePathError(
                f"{len(refused)} result(s) in {self.remote_root} are symlinks pointing outside the job root and were "
                "not brought back (a result is never read through a link): " + ", ".join(refused[:20])
            )
        return missing

    # -- files and commands ----------------------------------------------------

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        proc = subprocess.run(
            cmd,
            shell=True,
            executable="/bin/bash",
            cwd=self.remote_root,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin if stdin is not None else "",
        )
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def write_file(self, fname: str, write_str: str) -> None:
        atomic_write_text(os.path.join(self.remote_root, fname), write_str, durable=False)

    def read_file(self, fname: str) -> str:
        with open(os.path.join(self.remote_root, fname)) as f:
            return f.read()

    def check_file_exists(self, fname: str) -> bool:
        return os.path.exists(os.path.join(self.remote_root, fname))

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the job root: everything in it was made for this submission."""
        shutil.rmtree(self.remote_root, ignore_errors=True)


def _expand(root: str, pattern: str) -> list[str]:
    if is_glob(pattern):
        return sorted(os.path.relpath(m, root) for m in glob.glob(os.path.join(root, pattern)))
    return [pattern] if os.path.lexists(os.path.join(root, pattern)) else []


def _place(src: str, dst: str, link: bool) -> None:
    """Copy (or symlink) a forward file or directory tree from ``src`` to ``dst``, replacing what is there."""
    if link:
        write_atomically(dst, lambda tmp: os.symlink(os.path.abspath(src), tmp), 0)
    elif os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True, copy_function=copy_file)
    else:
        copy_file(src, dst)
