"""The README's and the docs' getting-started example runs anywhere, as shown."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from dpdispatcher.cli.submit_cmd import load_submission

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "getting-started"


def copy_of_the_example(tmp_path: Path) -> Path:
    copy = tmp_path / "getting-started"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("out.txt", "remote"))
    return copy


def test_the_readme_python_snippet_is_the_examples_run_py():
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```\n", readme, re.S)
    assert snippet is not None
    assert snippet.group(1) == (EXAMPLE / "run.py").read_text()


def test_run_py_runs_in_its_directory_with_the_configs_beside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DPDISPATCHER_HOME", str(tmp_path / "home"))
    example = copy_of_the_example(tmp_path)
    subprocess.run([sys.executable, "run.py"], cwd=example, check=True, timeout=120)
    outputs = sorted(p.read_text() for p in (example / "work").glob("dir*/out.txt"))
    assert len(outputs) == 4 and all(text.startswith("example input") for text in outputs)


def test_the_submission_files_remote_root_is_inside_the_example_so_clones_never_share_runs(tmp_path):
    example = copy_of_the_example(tmp_path)
    submission = load_submission(str(example / "submission.json"))
    assert submission.machine is not None
    assert Path(submission.machine.context.init_remote_root) == example / "remote"
