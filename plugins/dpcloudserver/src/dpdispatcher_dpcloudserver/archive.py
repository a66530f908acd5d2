"""The zip archives a job travels in: one per job up, one result archive per job back.

Extraction is where a hostile archive would do harm, so every member is checked before
anything is written: no absolute name, no ``..`` component, no backslash or NUL, and a
symbolic link only when its target stays inside the output directory. One bad member
refuses the whole archive. Every file is written under a temporary name and renamed into
place (an existing link is replaced, never written through).

``zip_file_list`` and ``unzip_file`` are the published names (``dpdispatcher.dpcloudserver.zip_file``).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator

from dpdispatcher.errors import UnsafePathError
from dpdispatcher.paths import expand_local, is_glob


def zip_file_list(
    root_path: str, zip_filename: str, file_list: Iterable[str] | None = None, dirs: Iterable[str] = ()
) -> str:
    """Write ``zip_filename`` holding ``file_list`` (paths or globs relative to ``root_path``; directories whole)
    and the (possibly empty) directories ``dirs``.

    Links are followed: the archive holds what they point to. A name that matches nothing is a
    FileNotFoundError naming it. Returns ``zip_filename``.
    """
    members = sorted(set(_members(root_path, list(file_list or []))))
    tmp = f"{zip_filename}.part"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in dirs:
            archive.writestr(zipfile.ZipInfo(posixpath.normpath(folder) + "/"), b"")
        for rel in members:
            archive.write(os.path.join(root_path, rel), rel)
    os.replace(tmp, zip_filename)
    return zip_filename


def _members(root: str, patterns: list[str]) -> Iterator[str]:
    for pattern in patterns:
        matches = expand_local(root, pattern)
        if not is_glob(pattern) and not os.path.exists(os.path.join(root, pattern)):
            raise FileNotFoundError(f"{os.path.join(root, pattern)} does not exist: it cannot go into the job archive")
        for rel in matches:
            path = os.path.join(root, rel)
            if not os.path.isdir(path):
                yield posixpath.normpath(rel)
                continue
            for folder, _dirs, files in os.walk(path, followlinks=True):
                for name in files:
                    yield posixpath.normpath(os.path.relpath(os.path.join(folder, name), root))


def unsafe_members(archive: zipfile.ZipFile) -> list[str]:
    """The members of ``archive`` that would land outside the directory it is extracted into, with why."""
    bad = []
    for info in archive.infolist():
        problem = _name_problem(info.filename)
        if not problem and _is_link(info):
            target = archive.read(info).decode("utf-8", "replace")
            problem = _link_problem(info.filename, target)
        if problem:
            bad.append(f"{info.filename!r} ({problem})")
    return bad


def _name_problem(name: str) -> str:
    if "\\" in name or "\0" in name:
        return "a backslash or NUL in its name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' component"
    return ""


def _link_problem(name: str, target: str) -> str:
    if target.startswith("/") or "\0" in target:
        return f"a link to the absolute path {target!r}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"a link to {target!r}, outside the directory"
    return ""


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def unzip_file(zip_file: str, out_dir: str = "./") -> list[str]:
    """Extract ``zip_file`` into ``out_dir`` after checking every member; return the names written.

    An archive with any member that would land outside ``out_dir`` is refused whole
    (:class:`~dpdispatcher.errors.UnsafePathError` naming the members) and nothing is written.
    """
    root = os.path.realpath(out_dir)
    with zipfile.ZipFile(zip_file) as archive:
        bad = unsafe_members(archive)
        if bad:
            raise UnsafePathError(
                f"refused the archive {zip_file}: {len(bad)} member(s) would land outside {out_dir}: "
                + ", ".join(bad[:10])
                + "; nothing was extracted"
            )
        written = []
        for info in archive.infolist():
            dst = os.path.join(root, info.filename)
            if info.is_dir():
                os.makedirs(dst, exist_ok=True)
                continue
            parent = os.path.dirname(dst)
            os.makedirs(parent, exist_ok=True)
            if not _inside(os.path.realpath(parent), root):  # through a link an earlier member made
                raise UnsafePathError(f"refused {info.filename!r} of {zip_file}: its folder leads outside {out_dir}")
            tmp = os.path.join(parent, f".{os.path.basename(dst)}.dpd.tmp")
            if os.path.lexists(tmp):
                os.unlink(tmp)
            if _is_link(info):
                os.symlink(archive.read(info).decode(), tmp)
            else:
                with archive.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
            os.replace(tmp, dst)
            written.append(info.filename)
    return written


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
