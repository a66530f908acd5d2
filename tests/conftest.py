"""Fixtures shared by every test directory (helpers to import live in tests/helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_dpdispatcher_home(tmp_path_factory, monkeypatch):
    """Keep submission records out of the user's home."""
    monkeypatch.setenv("DPDISPATCHER_HOME", str(tmp_path_factory.mktemp("dpdispatcher-home")))
