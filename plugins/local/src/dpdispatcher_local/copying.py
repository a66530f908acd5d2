"""Copying files between the work base and a job root on this machine, so that nothing is half there.

Every file is written under a temporary name beside its destination and renamed into
place: a result is whole or absent, also when the disk fills up (a :class:`DiskFullError`
naming the file and the bytes it needed). Results are never followed through symlinks:
a backward symlink whose target stays inside the job root comes back as the same link,
one that points outside is refused.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable

from dpdispatcher.errors import DiskFullError


def write_atomically(dst: str, write: Callable[[str], object], size: int) -> None:
    """Call ``write(tmp)`` for a temporary path beside ``dst``, then rename it to ``dst``."""
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    # one name per destination (one driver per submission): a copy a killed driver left half-way is
    # replaced by the next one, never left beside the result
    tmp = os.path.join(parent, f".{os.path.basename(dst)}.dpd.tmp")
    try:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        write(tmp)
        os.replace(tmp, dst)
    except OSError as err:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"no space left on this machine to write {dst} ({size} bytes needed); every file written "
                "before it is whole - free some space and run again"
            ) from None
        raise


def copy_file(src: str, dst: str) -> None:
    """Copy the content of ``src`` (symlinks followed) to ``dst``, atomically."""
    write_atomically(dst, lambda tmp: shutil.copyfile(src, tmp), os.path.getsize(src))


def bring_back(job_root: str, work_base: str, rel: str) -> list[str]:
    """Copy ``job_root/rel`` (a file, a link or a tree) to ``work_base/rel``; return the refused links.

    A link is refused when its target leaves the job root, and kept as a link otherwise. A link
    that already is the local file (a symlinked forward file) is left alone.
    """
    src, dst = os.path.join(job_root, rel), os.path.join(work_base, rel)
    if os.path.islink(src):
        if os.path.realpath(src) == os.path.realpath(dst):
            return []
        if not _inside(os.path.realpath(src), os.path.realpath(job_root)):
            return [f"{rel} -> {os.readlink(src)}"]
        target = os.readlink(src)
        write_atomically(dst, lambda tmp: os.symlink(target, tmp), 0)
        return []
    if not os.path.isdir(src):
        copy_file(src, dst)
        return []
    os.makedirs(dst, exist_ok=True)
    refused = []
    for name in sorted(os.listdir(src)):
        refused += bring_back(job_root, work_base, os.path.join(rel, name))
    return refused


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
