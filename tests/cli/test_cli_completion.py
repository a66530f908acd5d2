"""dpdisp completion bash|zsh: a script that registers completion and completes commands, choices and hashes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dpdispatcher.cli import build_parser, main
from dpdispatcher.cli.completion_script import command_paths
from dpdispatcher.records import record_path


@pytest.fixture
def script_file(tmp_path, capsys):
    def write(shell: str):
        assert main(["completion", shell]) == 0
        path = tmp_path / f"dpdisp.{shell}"
        path.write_text(capsys.readouterr().out)
        return path

    return write


def complete(shell: str, script, words: list[str]) -> list[str]:
    """What the completion function offers for the last of ``words`` (``dpdisp`` first), in ``shell``."""
    quoted = " ".join(f"'{w}'" for w in words)
    run = f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _dpdisp; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    result = subprocess.run([shell, "-c", run], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_script_registers_and_completes(script_file):
    script = script_file("bash")
    registered = subprocess.run(
        ["bash", "-c", f"source {script} && complete -p dpdisp"], capture_output=True, text=True, timeout=30
    )
    assert registered.stdout.strip() == "complete -o filenames -F _dpdisp dpdisp"
    commands = command_paths(build_parser())[0].subcommands
    assert {"plugins", "submit", "submission", "submissions", "doc", "completion"} <= set(commands)
    assert complete("bash", script, ["dpdisp", ""]) == commands
    assert complete("bash", script, ["dpdisp", "sub"]) == ["submit", "submission", "submissions"]
    assert complete("bash", script, ["dpdisp", "-v", "doc", ""]) == ["machine", "resources", "submission", "task"]
    assert complete("bash", script, ["dpdisp", "doc", "--format", "m"]) == ["md"]
    assert complete("bash", script, ["dpdisp", "plugins", "new", "x", "--kind", ""]) == ["machine", "context"]
    assert "--no-progress" in complete("bash", script, ["dpdisp", "submit", "--"])


def test_submission_hashes_complete_from_the_records(script_file):
    record_path("abc123" + "0" * 34).parent.mkdir(parents=True, exist_ok=True)
    for prefix in ("abc123", "abd456"):
        record_path(prefix + "0" * 34).write_text("{}")
    assert complete("bash", script_file("bash"), ["dpdisp", "submission", "abc"]) == ["abc123" + "0" * 34]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
def test_zsh_script_registers_and_completes(script_file):
    script = script_file("zsh")
    registered = subprocess.run(
        ["zsh", "-c", f"source {script} && print -r -- ${{_comps[dpdisp]}}"], capture_output=True, text=True, timeout=30
    )
    assert registered.returncode == 0, registered.stderr
    assert "_dpdisp" in registered.stdout
    # zsh arrays start at 1: the function must still find the current word and the command path
    # (zsh itself keeps the candidates that match what was typed, so none is typed here)
    assert complete("zsh", script, ["dpdisp", "completion", ""]) == ["bash", "zsh"]
    assert complete("zsh", script, ["dpdisp", "-q", "doc", ""]) == ["machine", "resources", "submission", "task"]
    assert complete("zsh", script, ["dpdisp", "doc", "--format", ""]) == ["text", "md", "rst", "json"]


def test_every_command_path_is_in_the_script(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    paths = [p.path for p in command_paths(build_parser()) if p.path]
    assert {"/plugins", "/plugins/new", "/submit", "/submissions", "/completion"} <= set(paths)
    for path in paths:
        assert f"\n        {path})\n" in script
