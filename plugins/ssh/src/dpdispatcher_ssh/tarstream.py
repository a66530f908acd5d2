"""Tar streams for transfers: one archive per direction, members checked on extraction."""

from __future__ import annotations

import contextlib
import errno
import functools
import gzip
import os
import posixpath
import stat
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Callable, Protocol, cast

from dpdispatcher import errors
from dpdispatcher.errors import DispatcherError, UnsafePathError
from dpdispatcher_ssh.tarread import TarReader

BUFSIZE = 1 << 20
#: suffix of a file being extracted, before it is renamed into place
PART_SUFFIX = ".dpd-part"


class Writable(Protocol):
    """Where a tar stream is written: only ``write`` is called (``flush`` too, if it has one)."""

    def write(self, data: bytes | memoryview, /) -> object: ...


class Readable(Protocol):
    """Where a tar stream is read from: only ``read`` is called."""

    def read(self, size: int, /) -> bytes: ...


class UnsafeArchiveError(DispatcherError):
    """An archive member would land outside the target directory (or is not a file, directory or link)."""


class OutsideRootError(UnsafePathError):
    """Backward files that point outside the job root: refused, while everything else was downloaded.

    ``entries`` names each one and where it points (``out.txt -> /etc/shadow``).
    """

    def __init__(self, entries: list[str], root: str | None = None) -> None:
        self.entries = entries
        n = len(entries)
        shown = "\n  ".join(entries[:20]) + (f"\n  ... and {n - 20} more" if n > 20 else "")
        super().__init__(
            f"{n} backward file{'s point' if n != 1 else ' points'} outside the job root{f' {root}' if root else ''} "
            f"and {'were' if n != 1 else 'was'} not downloaded (everything else was):\n  {shown}\n"
            "A result comes back as a file, or as a symlink whose target is inside the job root; make the task "
            "copy such a file into its directory instead (e.g. cp --dereference)."
        )


class DiskFullError(errors.DiskFullError):
    """A disk (or quota) on this machine is full: a downloaded file could not be written.

    An OSError with errno ENOSPC or EDQUOT, whose message says what to do.
    """

    def __init__(self, message: str, code: int = errno.ENOSPC) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @classmethod
    def writing(cls, path: str, size: int, done: int, err: OSError) -> DiskFullError:
        try:
            st = os.statvfs(os.path.dirname(path))
            free = f", {human_size(st.f_bavail * st.f_frsize)} free there"
        except OSError:
            free = ""
        reason = "no space left" if err.errno == errno.ENOSPC else "disk quota exceeded"
        return cls(
            f"{reason} on this machine: cannot write {path} (needs {human_size(size)}{free}). "
            f"The {done} file{'s' if done != 1 else ''} downloaded before it "
            f"{'are' if done != 1 else 'is'} complete and nothing partial was left; "
            "free some space there and run again to download the rest.",
            err.errno or errno.ENOSPC,
        )


def human_size(n: int) -> str:
    """``3,145,728 bytes (3.0 MiB)``."""
    size, shown = float(n), ""
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        shown = f" ({size:.1f} {unit})"
        if size < 1024:
            break
    return f"{n:,} bytes" + (shown if n >= 1024 else "")


@dataclass
class Entry:
    """One member to send: a directory (``path`` and ``data`` None), a local file, or in-memory text."""

    arcname: str
    path: str | None = None
    data: bytes | None = None


def write_tar(fileobj: Writable, entries: list[Entry], compress: bool = False) -> None:
    """Write ``entries`` as one tar stream to ``fileobj`` (file contents are read, symlinks followed).

    The headers come from :class:`tarfile.TarInfo`; the members are framed here rather than by
    :class:`tarfile.TarFile`, whose stream mode copies every byte three times on its way out. A
    file's content is read into one reused buffer and handed to ``fileobj`` as views of it, so
    ``fileobj.write`` must be done with the data when it returns (a channel or a file is).
    """
    # typeshed wants a flush method of gzip's file too; GzipFile calls it only from its own flush()
    zipped = gzip.GzipFile(fileobj=cast("IO[bytes]", fileobj), mode="wb", mtime=0) if compress else None
    sink = _TarSink(fileobj if zipped is None else zipped)
    buffer = bytearray(BUFSIZE)
    now = time.time()
    for entry in entries:
        info = tarfile.TarInfo(entry.arcname)
        if entry.data is not None:
            info.size, info.mtime, info.mode = len(entry.data), now, 0o644
            sink.member(info, entry.data)
            continue
        if entry.path is None:
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            sink.member(info)
            continue
        st = os.stat(entry.path)  # follows symlinks: the content is sent
        info.mtime = st.st_mtime
        if stat.S_ISDIR(st.st_mode):
            info.type, info.mode = tarfile.DIRTYPE, stat.S_IMODE(st.st_mode) | 0o700
            sink.member(info)
            continue
        info.size, info.mode = st.st_size, stat.S_IMODE(st.st_mode)
        with open(entry.path, "rb", buffering=0) as f:
            sink.member(info)
            sink.content(f, st.st_size, buffer, entry.path)
    sink.end()
    if zipped is not None:
        zipped.close()  # writes the gzip trailer; fileobj itself stays open
    if hasattr(fileobj, "flush"):
        fileobj.flush()


class _TarSink:
    """Members written in tar framing (GNU format, 512-byte blocks, 10240-byte records), counting what went out."""

    def __init__(self, out: Writable) -> None:
        self.out = out
        self.offset = 0

    def _write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.offset += len(data)

    def member(self, info: tarfile.TarInfo, data: bytes = b"") -> None:
        """The header of ``info``, then ``data`` (in-memory content) padded to a block."""
        self._write(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        if data:
            self._write(data)
            self._pad(tarfile.BLOCKSIZE)

    def content(self, f: IO[bytes], size: int, buffer: bytearray, path: str) -> None:
        """``size`` bytes of ``f`` (as its header said), padded to a block; a file that shrank meanwhile is an error."""
        view = memoryview(buffer)
        left = size
        while left:
            n = f.readinto(view[: min(left, len(view))])  # type: ignore[attr-defined]
            if not n:
                raise OSError(f"{path} became shorter while it was being sent ({size - left} of {size} bytes read)")
            self._write(view[:n])
            left -= n
        self._pad(tarfile.BLOCKSIZE)

    def end(self) -> None:
        """The two zero blocks that end an archive, and zeros up to a whole record."""
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._pad(tarfile.RECORDSIZE)

    def _pad(self, unit: int) -> None:
        if self.offset % unit:
            self._write(bytes(unit - self.offset % unit))


def member_path(name: str) -> str | None:
    """The member's path relative to the target, or None for the target itself; raise if it escapes."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path; refusing to extract it")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} contains '..'; refusing to extract it")
    return "/".join(parts) or None


def _link_text(rel: str, target: str, root: str | None) -> str | None:
    """What symlink member ``rel`` -> ``target`` becomes, or None if it points outside the archive's root.

    A relative target that stays inside is kept as it is. An absolute one is
    inside only under ``root`` (the directory the archive was made in, on its
    own machine); it becomes the relative link to the same place, which is
    where that file is in the extracted copy.
    """
    base = posixpath.dirname(rel)
    if target.startswith("/"):
        if root is None:
            return None
        inside = posixpath.relpath(posixpath.normpath(target), posixpath.normpath(root))
        return None if _leaves(inside) else posixpath.relpath(inside, base or ".")
    return None if not target or _leaves(posixpath.normpath(posixpath.join(base, target))) else target


def _leaves(path: str) -> bool:
    return path == ".." or path.startswith("../")


def safe_extract(fileobj: Readable, dest: str, compress: bool = False, root: str | None = None) -> list[str]:
    """Extract a tar stream into ``dest`` member by member; return the member paths.

    Each file is written to a temporary name in its directory and renamed into
    place: it is whole or absent, and a file or symlink in the way is replaced
    (never written through). A symlink comes back as a symlink when its target
    stays inside the archive's root (absolute targets under ``root`` count);
    any other is refused, the rest is still extracted, and :class:`OutsideRootError`
    (an :class:`~dpdispatcher.errors.UnsafePathError`) naming each refused link
    and its target is raised at the end. Absolute member paths, ``..``, paths
    that resolve out of ``dest`` (through a symlink already there), hard links
    to anything but an earlier file and special files raise
    :class:`UnsafeArchiveError` at once; a full disk raises :class:`DiskFullError`.
    """
    first = fileobj.read(BUFSIZE)
    if not first:
        return []
    stream = _Prefixed(first, fileobj)
    # typeshed asks GzipFile for a file with more methods than read, which is all it calls
    reader = TarReader(gzip.GzipFile(fileobj=cast("IO[bytes]", stream), mode="rb") if compress else stream)
    extracted: list[str] = []
    written = 0  # files and links, for the message of a full disk
    files: set[str] = set()
    refused: list[tuple[str, str]] = []
    os.makedirs(dest, exist_ok=True)
    real_dest = os.path.realpath(dest)
    for member in reader:
        rel = member_path(member.name)
        if rel is None:
            continue
        target = os.path.join(dest, *rel.split("/"))
        try:
            if member.isdir():
                _make_dir(target, real_dest, rel)
            elif member.issym():
                text = _link_text(rel, member.linkname, root)
                if text is None:
                    refused.append((rel, member.linkname))
                    continue
                _make_dir(os.path.dirname(target), real_dest, rel)
                _put(target, functools.partial(os.symlink, text))
            elif member.islnk():
                source = member_path(member.linkname)
                if source not in files:
                    raise UnsafeArchiveError(
                        f"archive member {rel!r} is a hard link to {member.linkname!r}, not an earlier file"
                    )
                path = os.path.join(dest, *source.split("/"))
                _make_dir(os.path.dirname(target), real_dest, rel)
                _put(target, functools.partial(os.link, path, follow_symlinks=False))
            elif member.isfile() and member.type != tarfile.GNUTYPE_SPARSE:
                _make_dir(os.path.dirname(target), real_dest, rel)
                _put(target, functools.partial(_write, reader, member))
                files.add(rel)
            else:
                raise UnsafeArchiveError(f"archive member {rel!r} is not a regular file, directory or link")
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError.writing(target, member.size, written, err) from err
            raise
        extracted.append(rel)
        written += not member.isdir()
    if refused:
        raise OutsideRootError([f"{rel} -> {target}" for rel, target in refused], root)
    return extracted


def _make_dir(path: str, real_dest: str, rel: str) -> None:
    """Create directory ``path`` (and its parents) unless it resolves outside ``real_dest``."""
    real = os.path.realpath(path)
    if real != real_dest and not real.startswith(real_dest.rstrip(os.sep) + os.sep):
        raise UnsafeArchiveError(
            f"archive member {rel!r} would be written to {real}, outside {real_dest} (through a local symlink)"
        )
    os.makedirs(path, exist_ok=True)


def _put(target: str, make: Callable[[str], object]) -> None:
    """``make(tmp)`` at a temporary name next to ``target``, then rename it into place."""
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name[:100]}.", suffix=PART_SUFFIX, dir=directory)
    os.close(fd)
    try:
        os.unlink(tmp)  # the name is reserved; make() creates a file, link or hard link there
        make(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write(reader: TarReader, member: tarfile.TarInfo, path: str) -> None:
    with open(path, "xb") as out:
        reader.copy_to(out)
    os.chmod(path, (member.mode & 0o755) | 0o600)  # no setuid/sticky, no group/other write
    os.utime(path, (member.mtime, member.mtime))


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
