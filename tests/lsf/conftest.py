"""Fixtures of the LSF plugin's tests: the project's LSF TEST DOUBLE (tests/doubles, IBM Spectrum LSF's formats).

``lsf_double``: the double's ``bsub``/``bjobs``/``bkill`` first on PATH, with a fresh state
directory; every job it started is killed when the test ends. LSF itself cannot run on
the test machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.fixture import SchedulerDouble


@pytest.fixture
def lsf_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SchedulerDouble]:
    with SchedulerDouble.started("lsf", tmp_path / "lsf-double", server="lsfmaster") as double:
        double.activate(monkeypatch)
        yield double
