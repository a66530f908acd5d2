"""Bringing results from the extracted archives (under the control directory) into the work base.

Each file is copied under a temporary name beside its destination and renamed into place, so a
result is whole or absent. A symlink is kept as a link when its target stays inside the results,
and refused otherwise (a result is never read through a link).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable

from dpdispatcher.paths import is_glob


def expand(root: str, pattern: str) -> list[str]:
    """What ``pattern`` (a name or a glob relative to ``root``) matches there, relative to ``root``."""
    if is_glob(pattern):
        return sorted(os.path.relpath(m, root) for m in glob.glob(os.path.join(root, pattern)))
    return [pattern] if os.path.lexists(os.path.join(root, pattern)) else []


def bring_back(root: str, work_base: str, rel: str) -> list[str]:
    """Copy ``root/rel`` (a file, a link or a tree) to ``work_base/rel``; return the links refused."""
    src, dst = os.path.join(root, rel), os.path.join(work_base, rel)
    if os.path.islink(src):
        if not _inside(os.path.realpath(src), os.path.realpath(root)):
            return [f"{rel} -> {os.readlink(src)}"]
        target = os.readlink(src)
        _replace(dst, lambda tmp: os.symlink(target, tmp))
        return []
    if not os.path.isdir(src):
        _replace(dst, lambda tmp: shutil.copyfile(src, tmp))
        return []
    os.makedirs(dst, exist_ok=True)
    refused = []
    for name in sorted(os.listdir(src)):
        refused += bring_back(root, work_base, os.path.join(rel, name))
    return refused


def _replace(dst: str, write: Callable[[str], object]) -> None:
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    tmp = os.path.join(parent, f".{os.path.basename(dst)}.dpd.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        write(tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
