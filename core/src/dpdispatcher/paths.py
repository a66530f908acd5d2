"""Path rules shared by every context: nothing may escape the work base."""

from __future__ import annotations

import glob
import os
import posixpath

from dpdispatcher.errors import UnsafePathError

_GLOB_CHARS = set("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def safe_join(*parts: str) -> str:
    """Join relative path parts and refuse a result outside the base they are relative to."""
    joined = posixpath.normpath(posixpath.join(*parts)) if parts else "."
    if posixpath.isabs(joined) or joined == ".." or joined.startswith("../"):
        raise UnsafePathError(
            f"path {posixpath.join(*parts)!r} escapes the work base; task_work_path and file entries "
            "must be relative paths that stay inside work_base"
        )
    return joined


def expand_local(root: str, pattern: str) -> list[str]:
    """Expand a glob relative to ``root``; a plain name is returned as is (even if missing)."""
    if not is_glob(pattern):
        return [pattern]
    matches = sorted(glob.glob(os.path.join(root, pattern)))
    return [os.path.relpath(m, root) for m in matches]
