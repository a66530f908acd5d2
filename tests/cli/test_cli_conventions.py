"""dpdisp behaves as the tools people know: --version, -v/-q anywhere, a quiet end on a closed pipe."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from dpdispatcher.cli import build_parser, main
from dpdispatcher.cli import doc_cmd as doc_module
from dpdispatcher.cli.pipes import EXIT_STATUS


def test_version_names_the_core_and_every_plugin(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dpdisp 0.") and "dpdispatcher-core" in lines[0] and "Python" in lines[0]
    listed = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert listed["dpdispatcher-shell"].startswith("0.") and listed["dpdispatcher-local"].startswith("0.")


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["doc", "task"], logging.WARNING),
        (["-v", "doc", "task"], logging.INFO),
        (["doc", "task", "-v"], logging.INFO),
        (["doc", "-q", "task"], logging.ERROR),
        (["-v", "doc", "task", "--quiet"], logging.ERROR),  # the last one given wins
        (["-q", "submit", "f.json", "--verbose"], logging.INFO),
        (["-q", "plugins", "new", "x", "--kind", "machine"], logging.ERROR),
    ],
)
def test_verbosity_is_accepted_before_and_after_the_command(argv, level):
    assert build_parser().parse_args(argv).log_level == level


def test_no_progress_is_accepted_anywhere():
    parser = build_parser()
    assert parser.parse_args(["submit", "f.json"]).progress is True
    assert parser.parse_args(["--no-progress", "submit", "f.json"]).progress is False
    assert parser.parse_args(["submit", "f.json", "--no-progress"]).progress is False


def _dpdisp(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dpdispatcher.dpdisp", *args], env=env, timeout=60, stdin=subprocess.DEVNULL, **kwargs
    )


def test_output_into_a_closed_pipe_ends_quietly():
    """`dpdisp doc machine | head -1`: the reader is gone before dpdisp writes (the pipe's read end is closed
    first, so the test does not depend on timing): no traceback, the exit status of a process ended by SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _dpdisp("doc", "machine", stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == EXIT_STATUS == 141


def test_head_reads_the_first_lines_and_nothing_is_printed_on_stderr():
    shell = f"{sys.executable} -m dpdispatcher.dpdisp doc machine --format md | head -n 2"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert result.stdout.startswith("# `machine`\n")
    assert result.stderr == ""


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden(monkeypatch):
    def broken(args):
        raise BrokenPipeError("a pipe to a child process")

    monkeypatch.setattr(doc_module, "run", broken)
    with pytest.raises(BrokenPipeError, match="child process"):
        main(["doc", "task"])


def test_quiet_hides_warnings_and_verbose_shows_info(submission_file):
    data = json.loads(submission_file.read_text())
    data["resources"]["queue_nmae"] = "typo"  # an unknown key: a warning naming it
    submission_file.write_text(json.dumps(data))
    plain = _dpdisp("submit", str(submission_file), "--dry-run", capture_output=True, text=True)
    assert plain.returncode == 0 and "queue_nmae" in plain.stderr
    quiet = _dpdisp("submit", str(submission_file), "--dry-run", "-q", capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "dry run" in quiet.stdout
    verbose = _dpdisp("-v", "submit", str(submission_file), "--dry-run", capture_output=True, text=True)
    assert "INFO" in verbose.stderr
