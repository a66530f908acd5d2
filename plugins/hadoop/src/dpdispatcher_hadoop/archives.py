"""The archives that carry a submission to HDFS and its results back.

Uploads: one gzipped tar per submission, its members the work base's relative paths (symlinked
forward files stored as their content, as the published package does).

Results: each job's container leaves one gzipped tar of its task directories and tags. Before
anything of an archive is written, every member is checked: a relative name that stays inside
the destination, a regular file, a directory, or a symlink whose target stays inside too.
An archive with any other member is refused whole, and the error names the member.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import time
from collections.abc import Sequence

from dpdispatcher.errors import UnsafePathError


def make_upload(archive: str, root: str, files: Sequence[str], dirs: Sequence[str] = ()) -> None:
    """Write ``archive``: ``root/f`` as member ``f`` for each file or tree, and each of ``dirs`` as a directory."""
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for rel in dirs:  # created even when empty
            info = tarfile.TarInfo(rel.rstrip("/"))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(info)
        for rel in files:
            tar.add(os.path.join(root, rel), arcname=rel)


def unsafe_members(tar: tarfile.TarFile) -> list[str]:
    """The members that could write outside the destination or are not plain files, dirs or inner links."""
    refused = []
    for member in tar.getmembers():
        name = member.name
        if _escapes(name):
            refused.append(f"{name} (its name leaves the destination)")
        elif member.issym():
            target = posixpath.join(posixpath.dirname(name), member.linkname)
            if posixpath.isabs(member.linkname) or _escapes(target):
                refused.append(f"{name} -> {member.linkname} (a link out of the destination)")
        elif member.islnk():
            if _escapes(member.linkname):
                refused.append(f"{name} => {member.linkname} (a hard link out of the destination)")
        elif not (member.isfile() or member.isdir()):
            refused.append(f"{name} (a device or pipe)")
    return refused


def extract_checked(archive: str, dest: str) -> None:
    """Extract ``archive`` into ``dest`` after checking every member; refuse it whole otherwise."""
    with tarfile.open(archive, "r:*") as tar:
        refused = unsafe_members(tar)
        if refused:
            raise UnsafePathError(
                f"refused the result archive {os.path.basename(archive)}: {len(refused)} member(s) would write "
                f"outside the task directories ({'; '.join(refused[:10])}); nothing of it was extracted"
            )
        data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4, 3.10.12, 3.9.17
        if data_filter is not None:
            tar.extractall(dest, filter=data_filter)
        else:
            tar.extractall(dest)  # every member was checked above


def _escapes(name: str) -> bool:
    normal = posixpath.normpath(name)
    return posixpath.isabs(name) or normal == ".." or normal.startswith("../")
