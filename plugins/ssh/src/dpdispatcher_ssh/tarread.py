"""The members of a tar stream, read straight from it: file contents are not copied on their way to disk.

:mod:`tarfile`'s stream mode copies every byte of content three or four times on
its way through; downloads spend most of their time on the Python side there.
Headers are still decoded by :meth:`tarfile.TarInfo.frombuf` (checksums, base-256
numbers); this module follows GNU long names and links (``L``, ``K``) and pax
headers (``x``: ``path``, ``linkpath``, ``size``; ``g`` is skipped), which is what
GNU tar writes. What the members are allowed to be is for the caller to decide.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from typing import IO, Protocol

BLOCK = tarfile.BLOCKSIZE
#: bytes read from the source at a time for file contents
CHUNK = 1 << 20
#: long names, links and pax headers larger than this are refused (a damaged or hostile stream)
MAX_META = 1 << 20


class Source(Protocol):
    """What a tar stream is read from: ``read(size)`` gives at most ``size`` bytes, and ``b""`` at its end."""

    def read(self, size: int, /) -> bytes: ...


class TarReader:
    """Iterate to get each member's :class:`tarfile.TarInfo`; :meth:`copy_to` then writes a file member's content."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._buffer = bytearray()
        self._unread = 0  # content bytes of the current member not read yet (padding not included)
        self._padding = 0

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        while (member := self._next()) is not None:
            yield member

    def copy_to(self, out: IO[bytes]) -> None:
        """Write the rest of the current member's content to ``out``."""

        def write(data: bytes | bytearray) -> None:
            out.write(data)
            self._unread -= len(data)  # in step: an error leaves the count of what is still unread

        self._pass(self._unread, write)

    # -- headers ------------------------------------------------------------------------

    def _next(self) -> tarfile.TarInfo | None:
        self._skip(self._unread + self._padding)
        self._unread = self._padding = 0
        pax: dict[str, str] = {}
        while True:
            block = self._take(BLOCK, at_header=True)
            if block is None or block == bytes(BLOCK):
                return None  # the end-of-archive block (or a stream that just stops there, as tarfile allows)
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.HeaderError as err:
                raise tarfile.ReadError(f"invalid tar header: {err}") from None
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                text = self._meta(info.size).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                pax["path" if info.type == tarfile.GNUTYPE_LONGNAME else "linkpath"] = text
            elif info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                pax.update(_pax_records(self._meta(info.size)))
            elif info.type == tarfile.XGLTYPE:
                self._meta(info.size)  # global defaults: nothing GNU tar puts there matters here
            else:
                break
        if "path" in pax:
            info.name = pax["path"]
        if "linkpath" in pax:
            info.linkname = pax["linkpath"]
        if "size" in pax:
            if not pax["size"].isdigit():
                raise tarfile.ReadError(f"invalid size {pax['size'][:40]!r} in a pax header")
            info.size = int(pax["size"])
        if any(key.startswith("GNU.sparse.") for key in pax):
            info.type = tarfile.GNUTYPE_SPARSE  # not a plain file: the caller refuses it
        if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:  # as tarfile: these have content to pass
            self._unread = info.size
            self._padding = -info.size % BLOCK
        return info

    def _meta(self, size: int) -> bytes:
        if size > MAX_META:
            raise tarfile.ReadError(f"a tar header extension of {size} bytes; refusing it")
        data = self._take(size)
        self._skip(-size % BLOCK)
        assert data is not None  # _take raises at the end of data unless at_header
        return data

    def _take(self, size: int, at_header: bool = False) -> bytes | None:
        while len(self._buffer) < size:
            chunk = self.source.read(max(CHUNK, size - len(self._buffer)))
            if not chunk:
                if at_header and not self._buffer:
                    return None
                raise tarfile.ReadError("unexpected end of data")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _skip(self, size: int) -> None:
        self._pass(size, None)

    def _pass(self, size: int, write: Callable[[bytearray | bytes], object] | None) -> None:
        """Take the next ``size`` bytes of the stream (buffered ones first), giving them to ``write`` if any."""
        while size:
            if self._buffer:
                n = min(len(self._buffer), size)
                if write is not None:
                    write(self._buffer[:n])
                del self._buffer[:n]
            else:
                chunk = self.source.read(min(size, CHUNK))
                if not chunk:
                    raise tarfile.ReadError("unexpected end of data")
                n = len(chunk)
                if write is not None:
                    write(chunk)
            size -= n


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<length> <key>=<value>\\n"`` records of a pax header."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] != b"\0":
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise tarfile.ReadError("invalid pax header") from None
        record = data[space + 1 : pos + length - 1]  # without the newline
        key, sep, value = record.partition(b"=")
        if length <= 0 or not sep:
            raise tarfile.ReadError("invalid pax header")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records
