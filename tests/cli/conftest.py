"""Fixtures of the dpdisp command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_submission_file


@pytest.fixture
def submission_file(tmp_path: Path) -> Path:
    return write_submission_file(tmp_path)
