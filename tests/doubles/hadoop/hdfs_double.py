"""``hadoop fs`` of the Hadoop TEST DOUBLE: a directory (``$DPD_DOUBLE_STATE/hdfs``) plays HDFS.

Subcommands and the words they print follow Apache Hadoop 3.3's FileSystem Shell guide and
the messages of its ``FsShell`` (``put: '/x': File exists``, ``ls: '/x': No such file or
directory``, ``Found 2 items``): ``-mkdir [-p]``, ``-put``/``-copyFromLocal [-f] src… dst``
(``-`` reads standard input), ``-get``/``-copyToLocal [-f] src… localdst`` (HDFS globs),
``-test -e|-d|-f|-s|-z``, ``-rm [-r] [-f] [-skipTrash]``, ``-ls [-d] [-R]``, ``-cat``,
``-text``, ``-touchz``, ``-stat [format]`` (``%b %F %n %o %r %u %g %y %Y``), ``-mv``.
A path is absolute, relative to ``/user/<user>``, or an ``hdfs://authority/path`` URI (printed
back the way it was given). A failing path is reported on stderr and the others still done;
the exit code is then 1.

Faults per subcommand: ``faults/hadoop-fs-<sub>.json`` (``HadoopDouble.fail_fs("put", ...)``).
"""

from __future__ import annotations

import getpass
import glob
import os
import posixpath
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from doubles.engine import Answer, Engine

GLOB_CHARS = set("*?[")


class FsError(Exception):
    """One path's failure: ``<command>: '<path>': <reason>`` on stderr (``path``: another than the one given)."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.path = path


class Hdfs:
    """The HDFS of one double: paths map to ``<state>/hdfs/<path>``."""

    def __init__(self, engine: Engine) -> None:
        self.root = engine.root / "hdfs"
        self.root.mkdir(exist_ok=True)
        self.user = os.environ.get("USER") or getpass.getuser()

    def local(self, path: str) -> Path:
        """Where ``path`` (absolute, relative to the user's home, or a URI) lives in the directory."""
        plain = path.split("://", 1)[1] if "://" in path else path
        if "://" in path:
            plain = "/" + plain.split("/", 1)[1] if "/" in plain else "/"
        if not plain.startswith("/"):
            plain = posixpath.join(f"/user/{self.user}", plain)
        normal = posixpath.normpath(plain).lstrip("/")
        return self.root / normal if normal != "." else self.root

    def expand(self, path: str) -> list[str]:
        """A path with glob characters expanded (as HDFS paths, the way ``path`` was written); [] if none match."""
        if not GLOB_CHARS & set(path):
            return [path] if os.path.lexists(self.local(path)) else []
        cut = min(path.index(c) for c in GLOB_CHARS if c in path)
        head = path[:cut].rsplit("/", 1)[0]  # the directory before the first glob character, as written
        base = str(self.local(head or "/"))
        return [head + match[len(base) :] for match in sorted(glob.glob(base + path[len(head) :]))]


# -- the subcommands ------------------------------------------------------------------------------------


def fs(engine: Engine, args: list[str]) -> Answer:
    """``hadoop fs -<sub> …``"""
    if not args or not args[0].startswith("-"):
        return Answer(stderr="Usage: hadoop fs [generic options]\n", code=255)
    sub = args[0][1:]
    fault = engine.take_fault(f"hadoop-fs-{sub}")
    if fault is not None:
        return fault[0]
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        return Answer(stderr=f"-{sub}: Unknown command\nUsage: hadoop fs [generic options]\n", code=255)
    hdfs = Hdfs(engine)
    out: list[str] = []
    err: list[str] = []
    code = handler(hdfs, args[1:], out, err)
    name = {"copyFromLocal": "put", "copyToLocal": "get", "text": "cat"}.get(sub, sub)
    stderr = "".join(line if line.startswith("-") else f"{name}: {line}" for line in err)
    return Answer("".join(out), stderr, code)


def _flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    flags: set[str] = set()
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-" and rest[0][1:] in known.split(","):
        flags.add(rest.pop(0)[1:])
    return flags, rest


def _each(paths: list[str], err: list[str], act: Callable[[str], None]) -> int:
    code = 0
    for path in paths:
        try:
            act(path)
        except FsError as problem:
            err.append(f"'{problem.path or path}': {problem}\n")
            code = 1
    return code


def mkdir(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    flags, paths = _flags(args, "p")

    def make(path: str) -> None:
        target = hdfs.local(path)
        if target.exists():
            if "p" in flags and target.is_dir():
                return
            raise FsError("File exists")
        if not target.parent.is_dir() and "p" not in flags:
            raise FsError("No such file or directory")
        target.mkdir(parents=True, exist_ok=True)

    return _each(paths, err, make)


def put(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    flags, operands = _flags(args, "f,p,d,l")
    if len(operands) < 2:
        err.append("-put: Not enough arguments: expected 1 but got 0\n")
        return 255
    sources, dst = operands[:-1], operands[-1]
    target_dir = hdfs.local(dst)
    if len(sources) > 1 and not target_dir.is_dir():
        err.append(f"'{dst}': {'Is not a directory' if target_dir.exists() else 'No such file or directory'}\n")
        return 1

    def copy(src: str) -> None:
        if src != "-" and not os.path.lexists(src):
            raise FsError("No such file or directory")  # reported with the local path, as Hadoop does
        into_dir = target_dir.is_dir() and src != "-"
        target = target_dir / os.path.basename(src.rstrip("/")) if into_dir else target_dir
        shown = dst.rstrip("/") + "/" + target.name if into_dir else dst
        if not target.parent.is_dir():
            raise FsError("No such file or directory", shown)
        if src != "-" and os.path.isdir(src):
            _copy_tree(Path(src), target, "f" in flags, shown)
            return
        if target.exists() and "f" not in flags:
            raise FsError("File exists", shown)
        data = sys.stdin.buffer.read() if src == "-" else Path(src).read_bytes()
        _write_whole(target, data)

    return _each(sources, err, copy)


def _copy_tree(src: Path, target: Path, force: bool, shown: str) -> None:
    target.mkdir(exist_ok=True)
    for child in sorted(src.iterdir()):
        if child.is_dir():
            _copy_tree(child, target / child.name, force, f"{shown}/{child.name}")
        elif (target / child.name).exists() and not force:
            raise FsError("File exists", f"{shown}/{child.name}")
        else:
            _write_whole(target / child.name, child.read_bytes())


def _write_whole(target: Path, data: bytes) -> None:
    """Write as HDFS does: readers see the whole file or none (a ``._COPYING_`` file renamed into place)."""
    tmp = target.with_name(target.name + "._COPYING_")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def get(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    flags, operands = _flags(args, "f,p,ignoreCrc,crc")
    if len(operands) < 2:
        err.append("-get: Not enough arguments: expected 1 but got 0\n")
        return 255
    sources, dst = operands[:-1], operands[-1]
    code = 0
    matched: list[str] = []
    for src in sources:
        found = hdfs.expand(src)
        if not found:
            err.append(f"'{src}': No such file or directory\n")
            code = 1
        matched += found
    if len(matched) > 1 and not os.path.isdir(dst):
        err.append(f"'{dst}': Is not a directory\n")
        return 1

    for path in matched:
        source = hdfs.local(path)
        target = Path(dst) / source.name if os.path.isdir(dst) else Path(dst)
        if target.exists() and "f" not in flags:
            err.append(f"'{target}': File exists\n")  # the local path, as Hadoop says it
            code = 1
        elif source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    return code


def test(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    if len(args) != 2 or args[0] not in ("-e", "-d", "-f", "-s", "-z"):
        err.append("-test: Illegal option\n")
        return 255
    target = hdfs.local(args[1])
    checks = {
        "-e": target.exists(),
        "-d": target.is_dir(),
        "-f": target.is_file(),
        "-s": target.exists() and target.stat().st_size > 0,
        "-z": target.exists() and target.stat().st_size == 0,
    }
    return 0 if checks[args[0]] else 1


def rm(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    flags, paths = _flags(args, "f,r,R,skipTrash,safely")
    recursive = bool({"r", "R"} & flags)
    code = 0
    for path in paths:
        matched = hdfs.expand(path)
        if not matched and "f" not in flags:
            err.append(f"'{path}': No such file or directory\n")
            code = 1
        for each in matched:
            target = hdfs.local(each)
            if target.is_dir() and not recursive:
                err.append(f"'{each}': Is a directory\n")
                code = 1
                continue
            shutil.rmtree(target) if target.is_dir() else target.unlink()
            out.append(f"Deleted {each}\n")
    return code


def ls(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    flags, paths = _flags(args, "d,R,h,C,q,u,t,S,r")
    code = 0
    for path in paths or [f"/user/{hdfs.user}"]:
        matched = hdfs.expand(path)
        if not matched:
            err.append(f"'{path}': No such file or directory\n")
            code = 1
        for each in matched:
            target = hdfs.local(each)
            if target.is_dir() and "d" not in flags:
                children = _walk(target, each, "R" in flags)
                if "R" not in flags:
                    out.append(f"Found {len(children)} items\n")
                out += [_ls_line(hdfs, local, shown) for local, shown in children]
            else:
                out.append(_ls_line(hdfs, target, each))
    return code


def _walk(directory: Path, shown: str, recursive: bool) -> list[tuple[Path, str]]:
    entries = []
    for child in sorted(p for p in directory.iterdir() if not p.name.endswith("._COPYING_")):
        child_shown = shown.rstrip("/") + "/" + child.name
        entries.append((child, child_shown))
        if recursive and child.is_dir():
            entries += _walk(child, child_shown, True)
    return entries


def _ls_line(hdfs: Hdfs, local: Path, shown: str) -> str:
    """``drwxr-xr-x   - user supergroup          0 2023-12-01 10:00 /path`` (a file: its replication, 3)."""
    info = local.stat()
    is_dir = local.is_dir()
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.st_mtime))
    perms = "drwxr-xr-x" if is_dir else "-rw-r--r--"
    size = 0 if is_dir else info.st_size
    return f"{perms}   {'-' if is_dir else '3'} {hdfs.user} supergroup {size:>10} {when} {shown}\n"


def cat(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    def show(path: str) -> None:
        target = hdfs.local(path)
        if not target.exists():
            raise FsError("No such file or directory")
        if target.is_dir():
            raise FsError("Is a directory")
        out.append(target.read_bytes().decode(errors="replace"))

    return _each(args, err, show)


def touchz(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    def touch(path: str) -> None:
        target = hdfs.local(path)
        if not target.parent.is_dir():
            raise FsError("No such file or directory")
        if target.exists() and target.stat().st_size > 0:
            raise FsError("Not a zero-length file")
        target.touch()

    return _each(args, err, touch)


def stat(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    fmt, paths = ("%y", args) if len(args) < 2 else (args[0], args[1:])
    code = 0
    for path in paths:
        matched = hdfs.expand(path)
        if not matched:
            err.append(f"'{path}': No such file or directory\n")
            code = 1
        for each in matched:
            out.append(_stat_line(hdfs, hdfs.local(each), fmt) + "\n")
    return code


def _stat_line(hdfs: Hdfs, local: Path, fmt: str) -> str:
    info = local.stat()
    fields = {
        "b": str(0 if local.is_dir() else info.st_size),
        "F": "directory" if local.is_dir() else ("regular file" if info.st_size else "regular empty file"),
        "n": local.name,
        "o": "134217728",
        "r": "0" if local.is_dir() else "3",
        "u": hdfs.user,
        "g": "supergroup",
        "y": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.st_mtime)),
        "Y": str(int(info.st_mtime * 1000)),
    }
    text, i = "", 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in fields:
            text += fields[fmt[i + 1]]
            i += 2
        else:
            text += fmt[i]
            i += 1
    return text


def mv(hdfs: Hdfs, args: list[str], out: list[str], err: list[str]) -> int:
    if len(args) != 2:
        err.append("-mv: Not enough arguments: expected 2\n")
        return 255
    source, target = hdfs.local(args[0]), hdfs.local(args[1])
    if not source.exists():
        err.append(f"'{args[0]}': No such file or directory\n")
        return 1
    if target.is_dir():
        target = target / source.name
    if target.exists():
        err.append(f"'{args[1]}': File exists\n")
        return 1
    os.replace(source, target)
    return 0


SUBCOMMANDS: dict[str, Callable[[Hdfs, list[str], list[str], list[str]], int]] = {
    "mkdir": mkdir,
    "put": put,
    "copyFromLocal": put,
    "get": get,
    "copyToLocal": get,
    "test": test,
    "rm": rm,
    "ls": ls,
    "cat": cat,
    "text": cat,
    "touchz": touchz,
    "stat": stat,
    "mv": mv,
}
