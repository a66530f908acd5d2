"""LocalContext and LazyLocalContext against the core's context contract."""

from __future__ import annotations

import pytest

from dpdispatcher.base_context import BaseContext
from dpdispatcher.testing import ContextContract


class TestLocalContextContract(ContextContract):
    @pytest.fixture
    def context(self, tmp_path):
        (tmp_path / "local").mkdir()
        return BaseContext.load_from_dict(
            {
                "context_type": "LocalContext",
                "local_root": str(tmp_path / "local"),
                "remote_root": str(tmp_path / "remote"),
            }
        )


class TestSymlinkLocalContextContract(ContextContract):
    @pytest.fixture
    def context(self, tmp_path):
        (tmp_path / "local").mkdir()
        return BaseContext.load_from_dict(
            {
                "context_type": "LocalContext",
                "local_root": str(tmp_path / "local"),
                "remote_root": str(tmp_path / "remote"),
                "remote_profile": {"symlink": True},
            }
        )


class TestLazyLocalContextContract(ContextContract):
    @pytest.fixture
    def context(self, tmp_path):
        (tmp_path / "local").mkdir()
        return BaseContext.load_from_dict({"context_type": "LazyLocalContext", "local_root": str(tmp_path / "local")})
