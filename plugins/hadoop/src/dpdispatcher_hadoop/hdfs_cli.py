"""Running ``hadoop fs`` on this machine: argument vectors (no shell), bounded, every failure with its stderr.

Each ``hadoop`` call starts a JVM (a second or two on a real client), so callers give one command
many paths (``-ls dir1 dir2 …``, ``-get a b c dest``) split under the command budget, never one
command per file.
"""

from __future__ import annotations

import posixpath
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from dpdispatcher.commands import chunks
from dpdispatcher.errors import ConfigError, SchedulerError

HADOOP = "hadoop"

#: seconds a metadata command (-ls, -test, -mkdir, -rm) may take, and a transfer (-put, -get)
METADATA_TIMEOUT = 300.0
TRANSFER_TIMEOUT = 3600.0

MISSING_HADOOP = (
    "HDFSContext runs the `hadoop` command of a Hadoop client, and there is no `hadoop` on PATH. "
    "Install a Hadoop client configured for your cluster (core-site.xml and hdfs-site.xml in "
    "$HADOOP_CONF_DIR) and put $HADOOP_HOME/bin on PATH, then run again."
)


class HDFSCommandError(SchedulerError):
    """A ``hadoop fs`` command failed; the message holds the command line and what it printed."""


def require_hadoop() -> None:
    """Refuse to start without a ``hadoop`` command: say what to install or configure."""
    if shutil.which(HADOOP) is None:
        raise ConfigError(MISSING_HADOOP)


@dataclass(frozen=True)
class FsResult:
    returncode: int
    stdout: str
    stderr: str


def hadoop_fs(
    args: Sequence[str], *, stdin: str | None = None, timeout: float = METADATA_TIMEOUT, check: bool = True
) -> FsResult:
    """Run ``hadoop fs ARGS``; with ``check`` a non-zero exit is an :class:`HDFSCommandError` naming it."""
    argv = [HADOOP, "fs", *args]
    try:
        proc = subprocess.run(
            argv, input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError:
        raise ConfigError(MISSING_HADOOP) from None
    except subprocess.TimeoutExpired:
        raise HDFSCommandError(f"`{_shown(argv)}` did not finish within {timeout:.0f} s") from None
    result = FsResult(proc.returncode, proc.stdout, proc.stderr)
    if check and result.returncode != 0:
        raise failure(args, result)
    return result


def failure(args: Sequence[str], result: FsResult) -> HDFSCommandError:
    """The error of ``hadoop fs ARGS`` that ended as ``result``: the command line, its exit code and stderr."""
    argv = [HADOOP, "fs", *args]
    said = (result.stderr.strip() or result.stdout.strip() or "it printed nothing")[-4000:]
    return HDFSCommandError(f"`{_shown(argv)}` failed with exit code {result.returncode}: {said}", output=said)


def hadoop_fs_many(option: Sequence[str], paths: Sequence[str], tail: Sequence[str] = (), **kwargs: object) -> None:
    """``hadoop fs OPTION path… TAIL`` for every path, in as few commands as the command budget allows."""
    fixed = sum(len(word) + 1 for word in (HADOOP, "fs", *option, *tail))
    for run in chunks(list(paths), fixed=fixed):
        hadoop_fs([*option, *run, *tail], **kwargs)  # type: ignore[arg-type]


# -- hadoop fs -ls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of ``hadoop fs -ls``."""

    path: str
    is_dir: bool
    size: int
    modified: str  # "yyyy-MM-dd HH:mm", as -ls prints it


def parse_ls(text: str) -> list[Entry]:
    """The entries of ``hadoop fs -ls`` output (``Found N items`` headers skipped).

    A line is ``permissions replication owner group size date time path``; the path is the
    rest of the line, spaces included.
    """
    entries = []
    for line in text.splitlines():
        fields = line.split(None, 7)
        if len(fields) < 8 or not fields[4].isdigit() or fields[0][:1] not in ("d", "-", "l"):
            continue
        entries.append(Entry(fields[7], fields[0].startswith("d"), int(fields[4]), f"{fields[5]} {fields[6]}"))
    return entries


def list_dirs(dirs: Sequence[str]) -> list[Entry]:
    """The entries of every directory in ``dirs`` (missing ones list nothing), in as few commands as fit."""
    entries: list[Entry] = []
    fixed = len("hadoop fs -ls ")
    for run in chunks(list(dirs), fixed=fixed):
        result = hadoop_fs(["-ls", *run], check=False)
        unexpected = [line for line in result.stderr.splitlines() if _is_error(line) and not _is_missing(line)]
        if result.returncode != 0 and (unexpected or not result.stderr.strip()):
            raise failure(["-ls", *run], result)
        entries += parse_ls(result.stdout)
    return entries


def _is_error(line: str) -> bool:
    return line.startswith("ls: ")


def _is_missing(line: str) -> bool:
    return line.rstrip().endswith("No such file or directory")


def name_in(root: str, path: str) -> str | None:
    """``path`` (as -ls prints it, possibly a full URI) relative to ``root``, or None when outside it."""
    root_path, path_path = _path_part(root).rstrip("/"), _path_part(path)
    if path_path == root_path:
        return "."
    if path_path.startswith(root_path + "/"):
        return path_path[len(root_path) + 1 :]
    return None


def _path_part(uri: str) -> str:
    """The path of an HDFS URI (``hdfs://nn:8020/a/b`` -> ``/a/b``); a plain path as it is."""
    if "://" in uri:
        rest = uri.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return posixpath.normpath(uri)


def _shown(argv: Sequence[str]) -> str:
    text = shlex.join(argv)
    return text if len(text) <= 500 else text[:500] + " …"
