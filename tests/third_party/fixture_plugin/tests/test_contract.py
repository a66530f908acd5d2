"""The contract every batch type inherits from dpdispatcher.testing, run against EchoScheduler.

Run from an environment where this distribution is installed: ``pytest tests``.
"""

from __future__ import annotations

import pytest

from dpdispatcher import Machine
from dpdispatcher.testing import MachineContract


class TestEchoScheduler(MachineContract):
    @pytest.fixture
    def machine(self, tmp_path):
        return Machine.load_from_dict(
            {
                "batch_type": "EchoScheduler",
                "context_type": "LocalContext",
                "local_root": str(tmp_path / "local"),
                "remote_root": str(tmp_path / "remote"),
            }
        )
