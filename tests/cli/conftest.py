"""Fixtures of the dpdisp command-line tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def submission_file(tmp_path: Path) -> Path:
    """A submission file of three quick tasks (Shell on LocalContext, two jobs), its roots under tmp_path."""
    work = tmp_path / "work"
    for i in range(3):
        (work / f"d{i}").mkdir(parents=True)
        (work / f"d{i}" / "in.txt").write_text(f"hello {i}\n")
    data = {
        "work_base": "work/",
        "machine": {
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "local_root": "./",
            "remote_root": str(tmp_path / "remote"),
        },
        "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 2},
        "task_list": [
            {
                "command": "cat in.txt > out.txt",
                "task_work_path": f"d{i}/",
                "forward_files": ["in.txt"],
                "backward_files": ["out.txt"],
            }
            for i in range(3)
        ],
    }
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(data))
    return path
