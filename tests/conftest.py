"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

import pytest

#: Comma-separated services (e.g. "slurm,ssh") that must be reachable: CI sets it so
#: that tests needing them fail instead of skipping.
REQUIRE_ENV = "DPDISPATCHER_REQUIRE_SERVICES"


def required_services() -> set[str]:
    return {s.strip() for s in os.environ.get(REQUIRE_ENV, "").split(",") if s.strip()}


def skip_or_fail(service: str, reason: str) -> None:
    """Skip a test whose service is missing, unless CI declared the service required."""
    if service in required_services():
        pytest.fail(f"{service} is required ({REQUIRE_ENV}) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{service} unavailable: {reason}")


@pytest.fixture(autouse=True)
def _private_dpdispatcher_home(tmp_path_factory, monkeypatch):
    """Keep submission records out of the user's home."""
    monkeypatch.setenv("DPDISPATCHER_HOME", str(tmp_path_factory.mktemp("dpdispatcher-home")))
