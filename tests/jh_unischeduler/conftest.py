"""Fixtures of the JH_UniScheduler plugin's tests: the project's JH UniScheduler TEST DOUBLE.

``jh_double``: the double's ``jsub``/``jjobs``/``jctrl`` (tests/doubles/jh_front.py, shims in
tests/doubles/bin/jh_unischeduler) first on PATH, with a fresh state directory; every job it
started is killed when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.fixture import HERE, SchedulerDouble


@pytest.fixture
def jh_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SchedulerDouble]:
    with SchedulerDouble.started("jh", tmp_path / "jh-double") as double:
        double.bin_dir = HERE / "bin" / "jh_unischeduler"  # the front is jh_front.py, its shims live here
        double.activate(monkeypatch)
        yield double
