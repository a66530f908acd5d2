"""Tar streams for transfers: one archive per direction, members checked on extraction."""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import time
from dataclasses import dataclass
from typing import IO, Literal, Protocol, cast

from dpdispatcher.errors import DispatcherError

BUFSIZE = 1 << 20


class Writable(Protocol):
    """Where a tar stream is written: only ``write`` is called (``flush`` too, if it has one)."""

    def write(self, data: bytes, /) -> object: ...


class Readable(Protocol):
    """Where a tar stream is read from: only ``read`` is called."""

    def read(self, size: int, /) -> bytes: ...


class UnsafeArchiveError(DispatcherError):
    """An archive member would land outside the target directory (or is not a file, directory or link)."""


@dataclass
class Entry:
    """One member to send: a directory (``path`` and ``data`` None), a local file, or in-memory text."""

    arcname: str
    path: str | None = None
    data: bytes | None = None


def write_tar(fileobj: Writable, entries: list[Entry], compress: bool = False) -> None:
    """Write ``entries`` as one tar stream to ``fileobj`` (file contents are read, symlinks followed)."""
    mode: Literal["w|gz", "w|"] = "w|gz" if compress else "w|"
    # typeshed asks every mode for a seekable file; a stream mode ("w|") only calls write
    stream = cast("IO[bytes]", fileobj)
    with tarfile.open(fileobj=stream, mode=mode, bufsize=BUFSIZE, format=tarfile.GNU_FORMAT) as tar:
        # TarFile.__init__ sets copybufsize (undocumented); typeshed has it only as a parameter
        tar.copybufsize = BUFSIZE  # type: ignore[attr-defined]
        now = time.time()
        for entry in entries:
            if entry.data is not None:
                info = tarfile.TarInfo(entry.arcname)
                info.size = len(entry.data)
                info.mtime = now
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(entry.data))
            elif entry.path is None:
                info = tarfile.TarInfo(entry.arcname)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = now
                tar.addfile(info)
            else:
                st = os.stat(entry.path)  # follows symlinks: the content is sent
                if stat.S_ISDIR(st.st_mode):
                    info = tarfile.TarInfo(entry.arcname)
                    info.type = tarfile.DIRTYPE
                    info.mode = stat.S_IMODE(st.st_mode) | 0o700
                    info.mtime = st.st_mtime
                    tar.addfile(info)
                    continue
                info = tarfile.TarInfo(entry.arcname)
                info.size = st.st_size
                info.mode = stat.S_IMODE(st.st_mode)
                info.mtime = st.st_mtime
                with open(entry.path, "rb") as f:
                    tar.addfile(info, f)
    if hasattr(fileobj, "flush"):
        fileobj.flush()


def member_path(name: str) -> str | None:
    """The member's path relative to the target, or None for the target itself; raise if it escapes."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path; refusing to extract it")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} contains '..'; refusing to extract it")
    return "/".join(parts) or None


def _check_link(member: tarfile.TarInfo, rel: str) -> None:
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise UnsafeArchiveError(
                f"archive member {rel!r} is a symlink to the absolute path {target!r}; refusing it"
            )
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    else:  # hard link: the target is another member's path
        resolved = posixpath.normpath(target)
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise UnsafeArchiveError(f"archive member {rel!r} links to {target!r}, outside the target; refusing it")


def safe_extract(fileobj: Readable, dest: str, compress: bool = False) -> list[str]:
    """Extract a tar stream into ``dest`` member by member; return the member paths.

    Absolute paths, ``..``, links pointing outside ``dest``, paths through a
    symlink made by this archive, and special files are refused. An existing
    file or symlink in the way is replaced (never written through).
    """
    first = fileobj.read(BUFSIZE)
    if not first:
        return []
    stream = _Prefixed(first, fileobj)
    mode: Literal["r|gz", "r|"] = "r|gz" if compress else "r|"
    extracted = []
    links: set[str] = set()
    os.makedirs(dest, exist_ok=True)
    use_filter = hasattr(tarfile, "data_filter")
    # typeshed asks every mode for a seekable file; a stream mode ("r|") only calls read
    with tarfile.open(fileobj=cast("IO[bytes]", stream), mode=mode, bufsize=BUFSIZE) as tar:
        for member in tar:
            rel = member_path(member.name)
            if rel is None:
                continue
            prefix = rel.split("/")
            for i in range(1, len(prefix)):
                if "/".join(prefix[:i]) in links:
                    raise UnsafeArchiveError(f"archive member {rel!r} goes through a symlink of the same archive")
            if member.issym() or member.islnk():
                _check_link(member, rel)
                if member.islnk():
                    member.linkname = member_path(member.linkname) or "."
                links.add(rel)
            elif not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"archive member {rel!r} is not a regular file, directory or link")
            member.name = rel
            target = os.path.join(dest, rel)
            if not member.isdir() and (
                os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target))
            ):
                os.unlink(target)
            member.uid = member.gid = os.getuid() if hasattr(os, "getuid") else 0
            member.uname = member.gname = ""
            if use_filter:
                tar.extract(member, dest, filter="data")
            else:
                member.mode &= 0o777
                tar.extract(member, dest)
            extracted.append(rel)
    return extracted


class _Prefixed:
    """A reader that first returns ``head`` and then reads from ``rest``."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0 or size >= len(self.head):
                chunk, self.head = self.head, b""
            else:
                chunk, self.head = self.head[:size], self.head[size:]
            return chunk
        return self.rest.read(size)
