"""dpdisp doc: plain text by default (no reStructuredText markup), Markdown, RST and JSON on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dpdispatcher.cli import main
from dpdispatcher.cli.doc_render import plain
from dpdispatcher.cli.submit_cmd import SUBMISSION_KEYS


def _doc(capsys, *args: str) -> str:
    assert main(["doc", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("what", ["machine", "resources", "task", "submission"])
def test_text_has_no_rst_markup(capsys, what):
    text = _doc(capsys, what)
    assert "``" not in text and "| type:" not in text and "argument path:" not in text
    assert text.startswith(f"{what}  (dict)\n")


def test_text_names_every_argument_by_its_path_with_type_and_default(capsys):
    text = _doc(capsys, "machine")
    assert "machine/retry_count  (int, optional, default: 3)" in text
    assert "machine[context_type=LocalContext]/remote_profile/symlink  (bool, optional, default: " in text
    assert "\n  When context_type is LocalContext:\n" in text
    assert "resources/strategy/ratio_unfinished" in _doc(capsys, "resources")


def test_text_on_a_pipe_is_plain_too():
    result = subprocess.run(
        [sys.executable, "-m", "dpdispatcher.dpdisp", "doc", "resources"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CI": "1"},
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "``" not in result.stdout and "resources/group_size  (int)" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 160  # docs wrapped; long paths stay whole


def test_markdown_rst_and_json(capsys):
    md = _doc(capsys, "task", "--format", "md")
    assert md.startswith("# `task`\n") and "- **`task/command`** *(str)*:" in md
    rst = _doc(capsys, "task", "--format", "rst")
    assert "| argument path: ``task/command``" in rst  # dargs' own reStructuredText
    tree = json.loads(_doc(capsys, "task", "--format", "json"))
    assert tree["name"] == "task" and "command" in tree["sub_fields"]


def test_doc_submission_documents_exactly_the_keys_submit_accepts(capsys):
    tree = json.loads(_doc(capsys, "submission", "--format", "json"))
    assert set(tree["sub_fields"]) == SUBMISSION_KEYS
    required = {name for name, field in tree["sub_fields"].items() if not field["optional"]}
    assert required == {"work_base", "machine", "resources", "task_list"}


def test_an_unknown_subject_or_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["doc", "machines"])
    assert stop.value.code == 2 and "invalid choice: 'machines'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["doc", "task", "--format", "html"])
    assert "invalid choice: 'html'" in capsys.readouterr().err


def test_plain_removes_inline_markup_and_folds_whitespace():
    assert plain("The ``task_work_path`` of a `job`,\n  wrapped") == "The task_work_path of a job, wrapped"
