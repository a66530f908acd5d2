"""LocalContext: jobs run in a separate directory on this machine; files are symlinked (or copied)."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
from collections.abc import Collection, Sequence
from typing import Any

from dargs import Argument

from dpdispatcher._compat import ReadableText
from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.commands import script
from dpdispatcher.errors import UnsafePathError
from dpdispatcher.paths import is_glob
from dpdispatcher.records import atomic_write_text
from dpdispatcher_local.copying import bring_back, copy_file, copy_tree, inside, link_roots, write_atomically
from dpdispatcher_local.removing import unlink_all

#: bytes of a script given to bash as its command (Linux takes up to 128 KiB in one argument)
ONE_ARGUMENT = 100_000

#: What ``call`` returns and ``check_finish``/``get_return`` take: a process started in the job root.
Process = subprocess.Popen[bytes]


class LocalContext(BaseContext):
    """The remote root is a directory on this machine (``remote_root/<submission hash>``).

    Forward files are symlinked into it (``remote_profile/symlink``, true by default as in the
    published package) or copied. Names given to the file methods stay inside the job root.
    """

    is_local = True

    def __init__(
        self,
        local_root: str | None = None,
        remote_root: str | None = None,
        remote_profile: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(local_root, remote_root, remote_profile)
        self.symlink = bool(self.remote_profile.get("symlink", True))

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
                        default=True,
                        doc="Symlink the forward files into the remote root instead of copying them. Turn it off "
                        "when a task changes its input files and the originals must stay as they are.",
                    )
                ],
                optional=True,
                default={},
                doc="How files are staged between local_root and remote_root, both on this machine.",
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
            if self.symlink:
                write_atomically(dst, functools.partial(os.symlink, os.path.abspath(src)), lambda: 0)
            elif os.path.isdir(src):
                copy_tree(src, dst)
            else:
                copy_file(src, dst)

    def download_files(self, patterns: list[str]) -> list[str]:
        """Bring every match back (see :mod:`dpdispatcher_local.copying`), replacing what was there; links that
        may not be followed are reported after everything else arrived."""
        missing, refused = [], []
        allowed = link_roots(self.remote_root, self.local_root)
        for pattern in patterns:
            matches = _expand(self.remote_root, pattern)
            if not matches:
                missing.append(pattern)
            for rel in matches:
                refused += bring_back(self.remote_root, self.local_root, rel, allowed)
        if refused:
            raise UnsafePathError(
                f"{len(refused)} result(s) in {self.remote_root} are symlinks that were not brought back (a result "
                "is read through a link only inside the job root or the work base): " + ", ".join(refused[:20])
            )
        return missing

    # -- files and commands ----------------------------------------------------

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        return CommandResult.of_local_bash(cmd, self.remote_root, timeout, stdin)

    def run_script(self, lines: Sequence[str], timeout: float | None = None) -> CommandResult:
        """A script that fits in one argument is bash's command itself (one process, not the three of
        reading it from standard input); a longer one goes the general way."""
        text = script(lines)
        if len(text.encode()) > ONE_ARGUMENT:
            return super().run_script(lines, timeout)
        return self.run(text, timeout=timeout)

    def write_file(self, fname: str, write_str: str) -> None:
        atomic_write_text(self._path(fname), write_str, durable=False)

    def read_file(self, fname: str) -> str:
        with open(self._path(fname)) as f:
            return f.read()

    def check_file_exists(self, fname: str) -> bool:
        """Whether ``fname`` is a file (a directory is not, as in the published package)."""
        return os.path.isfile(self._path(fname))

    def files_exist(self, fnames: list[str]) -> set[str]:
        return {f for f in fnames if os.path.exists(self._path(f))}

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the job root: everything in it was made for this submission."""
        shutil.rmtree(self.remote_root, ignore_errors=True)

    def clean_finished(self, generated: Collection[str], task_dirs: Collection[str]) -> None:
        """Remove finished jobs' files and task directories in this process (no shell started)."""
        unlink_all([self._path(name) for name in generated])
        for directory in task_dirs:
            shutil.rmtree(self._path(directory), ignore_errors=True)

    def _path(self, fname: str) -> str:
        """``fname`` (relative to the job root, or absolute inside it) as an absolute path."""
        root = os.path.abspath(self.remote_root)
        path = os.path.normpath(os.path.join(root, fname))
        if not inside(path, root):
            raise UnsafePathError(f"{fname!r} is outside the job root {root}; name a file inside it")
        return path

    # -- the published asynchronous calls ------------------------------------------

    def call(self, cmd: str) -> Process:
        """Start ``cmd`` in the job root and return at once (published API).

        Its output is held in pipes until :meth:`get_return` reads it, as in the published
        package, so a command meant for this should print little.
        """
        return subprocess.Popen(
            cmd,
            shell=True,
            executable="/bin/bash",
            cwd=self.remote_root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def check_finish(self, proc: Process) -> bool:
        """Whether a process started by :meth:`call` has ended."""
        return proc.poll() is not None

    def get_return(self, proc: Process) -> tuple[int | None, ReadableText | None, ReadableText | None]:
        """``(exit code, stdout, stderr)`` of a process started by :meth:`call`; ``(None, None, None)`` while it runs."""
        code = proc.poll()
        if code is None:
            return None, None, None
        stdout, stderr = proc.communicate()
        return code, ReadableText(stdout), ReadableText(stderr)


def _expand(root: str, pattern: str) -> list[str]:
    if is_glob(pattern):
        return sorted(os.path.relpath(m, root) for m in glob.glob(os.path.join(root, pattern)))
    return [pattern] if os.path.lexists(os.path.join(root, pattern)) else []
