"""LocalContext (copying and symlinking) and LazyLocalContext against the core's context contract."""

from __future__ import annotations

import pytest

from dpdispatcher.base_context import BaseContext
from dpdispatcher.testing import ContextContract


def make_context(tmp_path, context_type: str, **remote_profile) -> BaseContext:
    (tmp_path / "local").mkdir()
    return BaseContext.load_from_dict(
        {
            "context_type": context_type,
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            "remote_profile": remote_profile,
        }
    )


class TestLocalContextContract(ContextContract):
    """The default: forward files symlinked, as the published package does."""

    @pytest.fixture
    def context(self, tmp_path):
        return make_context(tmp_path, "LocalContext")


class TestCopyingLocalContextContract(ContextContract):
    @pytest.fixture
    def context(self, tmp_path):
        return make_context(tmp_path, "LocalContext", symlink=False)


class TestLazyLocalContextContract(ContextContract):
    removes_finished_task_dirs = False  # they are the user's

    @pytest.fixture
    def context(self, tmp_path):
        return make_context(tmp_path, "LazyLocalContext")
