"""Fixtures of the Fugaku plugin's tests: the project's Fugaku (Fujitsu TCS) TEST DOUBLE.

``fugaku_double``: the double's ``pjsub``/``pjstat``/``pjdel`` (tests/doubles/fugaku_front.py)
first on PATH, with a fresh state directory; every job it started is killed when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.fixture import SchedulerDouble


@pytest.fixture
def fugaku_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SchedulerDouble]:
    with SchedulerDouble.started("fugaku", tmp_path / "fugaku-double") as double:
        double.activate(monkeypatch)
        yield double
