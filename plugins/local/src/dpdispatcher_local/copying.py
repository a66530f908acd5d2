"""Copying files between the work base and a job root on this machine, so that nothing is half there.

Every file or directory is written under a temporary name beside its destination and renamed
into place, replacing what was there: a result is whole or absent, also when the disk fills up
(a :class:`DiskFullError` naming the file and the bytes it needed).

Symlinks are followed as the published package follows them (a result that is a link arrives
as the content it points to), but only where that content stays inside the job root or the
work base: a link that leads anywhere else, or to nothing, or back into a directory being
copied, is refused and reported instead of read.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable

from dpdispatcher.errors import DiskFullError


def write_atomically(dst: str, write: Callable[[str], object], size: Callable[[], int]) -> None:
    """Call ``write(tmp)`` for a temporary path beside ``dst``, then put it in place of ``dst``.

    A file (or link) replaces the old entry in one rename; a directory replaces an old
    directory by moving it aside first and removing it afterwards. ``size()`` (the bytes
    needed) is asked only for the message when the disk is full.
    """
    parent = os.path.dirname(dst)
    if not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    # one name per destination (one driver per submission): what a killed driver left half-way is
    # replaced by the next one, never left beside the result
    tmp = os.path.join(parent, f".{os.path.basename(dst)}.dpd.tmp")
    old = os.path.join(parent, f".{os.path.basename(dst)}.dpd.old")
    for leftover in (tmp, old):
        remove(leftover)
    try:
        write(tmp)
    except OSError as err:
        remove(tmp)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"no space left on this machine to write {dst} ({size()} bytes needed); every file written "
                "before it is whole - free some space and run again"
            ) from None
        raise
    if _is_directory(dst) or (_is_directory(tmp) and os.path.lexists(dst)):
        os.rename(dst, old)  # a directory cannot be replaced in one rename
        os.rename(tmp, dst)
        remove(old)
    else:
        os.replace(tmp, dst)


def remove(path: str) -> None:
    """Remove a file, a link (not what it points to) or a directory tree, if there is one."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _is_directory(path: str) -> bool:
    """Whether ``path`` is a directory itself (not a link to one); one system call."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def copy_file(src: str, dst: str) -> None:
    """Copy the content and permissions of ``src`` (symlinks followed) to ``dst``, atomically."""
    write_atomically(dst, lambda tmp: shutil.copy2(src, tmp), lambda: os.path.getsize(src))


def copy_tree(src: str, dst: str) -> None:
    """Copy the directory tree ``src`` (symlinks followed) to ``dst``, replacing it whole."""
    write_atomically(dst, lambda tmp: shutil.copytree(src, tmp), lambda: tree_size(src))


def tree_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def link_roots(job_root: str, work_base: str) -> tuple[str, str]:
    """Where a result that is a link may lead (real paths), for :func:`bring_back`."""
    return os.path.realpath(job_root), os.path.realpath(work_base)


def bring_back(job_root: str, work_base: str, rel: str, allowed: tuple[str, str]) -> list[str]:
    """Copy ``job_root/rel`` (a file, a link or a tree) to ``work_base/rel``; return what was refused.

    ``allowed`` is :func:`link_roots` of the two (worked out once for many results). Each refusal
    reads ``"<rel> -> <link target> (<why>)"``. A result that already is the local file (a
    symlinked forward file) is left alone.
    """
    src, dst = os.path.join(job_root, rel), os.path.join(work_base, rel)
    if _same_file(src, dst):
        return []
    refusal = _refusal(src, allowed, visiting=())
    if refusal:
        return [f"{rel} -> {os.readlink(src)} ({refusal})"]
    if not os.path.isdir(src):
        copy_file(src, dst)
        return []
    refused: list[str] = []
    write_atomically(dst, lambda tmp: refused.extend(_copy_results(src, tmp, rel, allowed)), lambda: tree_size(src))
    return refused


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except OSError:  # either is absent, or a link to nothing
        return False


def _copy_results(src: str, dst: str, rel: str, allowed: tuple[str, ...], visiting: tuple[str, ...] = ()) -> list[str]:
    """Copy the directory ``src`` into the new directory ``dst`` under the link rule of :func:`bring_back`."""
    os.mkdir(dst)
    visiting = (*visiting, os.path.realpath(src))  # a link to one of these, or above them, is a loop
    refused = []
    for name in sorted(os.listdir(src)):
        child, child_rel = os.path.join(src, name), os.path.join(rel, name)
        refusal = _refusal(child, allowed, visiting)
        if refusal:
            refused.append(f"{child_rel} -> {os.readlink(child)} ({refusal})")
        elif os.path.isdir(child):
            refused += _copy_results(child, os.path.join(dst, name), child_rel, allowed, visiting)
        else:
            shutil.copy2(child, os.path.join(dst, name))
    return refused


def _refusal(path: str, allowed: tuple[str, ...], visiting: tuple[str, ...]) -> str:
    """Why the link ``path`` may not be followed; empty when it may (or is no link)."""
    if not os.path.islink(path):
        return ""
    real = os.path.realpath(path)
    if not any(inside(real, root) for root in allowed):
        return "outside the job root and the work base"
    if not os.path.exists(real):
        return "pointing to nothing"
    if any(inside(directory, real) for directory in visiting):
        return "a loop back into a directory being copied"
    return ""


def inside(path: str, root: str) -> bool:
    """Whether the normalised absolute ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
