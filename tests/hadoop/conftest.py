"""Fixtures of the Hadoop plugin's tests: the project's Hadoop TEST DOUBLE (tests/doubles/hadoop).

``hadoop_double``: the double's ``hadoop`` and ``yarn`` first on PATH, ``HADOOP_HOME`` holding a stand-in
DistributedShell jar, HDFS as a directory; every container and client it started is killed when the
test ends. Hadoop itself (HDFS, YARN) cannot run on the test machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.hadoop.fixture import HadoopDouble


@pytest.fixture
def hadoop_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HadoopDouble]:
    with HadoopDouble.started(tmp_path / "hadoop-double") as double:
        double.activate(monkeypatch)
        yield double
