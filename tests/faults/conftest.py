"""Fixtures of the fault-injection suite (the kit itself is faults_kit.py, shared with bench/faults.py).

* ``faults_sshd``: a private sshd for this suite (tests/ssh/conftest.py's server), which the
  outage test stops and starts without disturbing the SSH plugin's own tests;
* ``slurm_cluster``: the real Slurm cluster of tests/slurm/conftest.py (imported from there);
* every test's leftover processes (anything working under its tmp_path) are killed at its end.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_kit import kill_processes_under

_SLURM_CONFTEST = Path(__file__).resolve().parents[1] / "slurm" / "conftest.py"
_spec = importlib.util.spec_from_file_location("dpd_tests_slurm_conftest", _SLURM_CONFTEST)
assert _spec is not None and _spec.loader is not None
_slurm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_slurm)

#: the real Slurm cluster of the Slurm tests (one source: tests/slurm/conftest.py)
slurm_cluster = _slurm.slurm_cluster


@pytest.fixture(scope="session")
def faults_sshd() -> Iterator[object]:
    """A private sshd on 127.0.0.1 (see tests/ssh/conftest.py), stopped at the end of the session."""
    try:
        from ssh.conftest import _running  # tests/ssh: a namespace package under the tests directory
    except ImportError as err:
        pytest.skip(f"the ssh test fixtures cannot be imported: {err}")
    pytest.importorskip("dpdispatcher_ssh", reason="the dpdispatcher-ssh plugin is not installed")
    with _running("faults-sshd", {}) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_process_escapes(tmp_path: Path) -> Iterator[None]:
    """Whatever a test leaves running under its tmp_path is killed (the tests assert there is none)."""
    yield
    kill_processes_under(tmp_path)
