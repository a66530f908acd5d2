"""The dpdisp command line."""

from __future__ import annotations

import json

from helpers import write_submission_file as submission_file

from dpdispatcher.cli import main


def test_submit_runs_the_manual_submission_file(tmp_path, capsys, monkeypatch):
    path = submission_file(tmp_path)
    monkeypatch.chdir("/")  # relative roots are relative to the file, not the cwd
    assert main(["submit", str(path), "--json"]) == 0
    assert (tmp_path / "work" / "d2" / "out.txt").read_text() == "hello 2\ng\n"
    assert json.loads(capsys.readouterr().out)["jobs"] == "2 finished"


def test_submit_dry_run_and_exit_on_submit(tmp_path, capsys):
    path = submission_file(tmp_path)
    assert main(["submit", str(path), "--dry-run"]) == 0
    assert "2 unsubmitted" in capsys.readouterr().out
    assert main(["submit", str(path), "--exit-on-submit"]) == 0
    said = capsys.readouterr().out
    assert " was submitted (2 waiting)" in said or " was submitted (" in said
    submission_hash = said.split()[1]
    assert main(["submission", submission_hash]) == 0
    assert "fails 0" in capsys.readouterr().out
    assert main(["submit", str(path)]) == 0


def test_submit_bad_input_prints_one_clear_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"work_base": "w", ')
    assert main(["submit", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dpdisp: error: {path} is not valid JSON") and "Traceback" not in err
    path.write_text(
        json.dumps(
            {
                "work_base": "w",
                "machine": {"batch_type": "Nope", "context_type": "Local", "local_root": "."},
                "resources": {"group_size": 1},
                "task_list": [],
            }
        )
    )
    assert main(["submit", str(path)]) == 1
    assert "unknown batch type 'Nope'" in capsys.readouterr().err


def test_submission_command_resets_fail_counts_downloads_and_cleans(tmp_path, capsys):
    path = submission_file(tmp_path, retry_count=0)
    data = json.loads(path.read_text())
    data["task_list"][0]["command"] = "cat example.txt; exit 1"
    path.write_text(json.dumps(data))
    assert main(["submit", str(path)]) == 1
    err = capsys.readouterr().err
    assert "still failed after 0 retries" in err
    submission_hash = err.split("dpdisp submission ")[1].split()[0]
    assert main(["submission", submission_hash]) == 0
    assert "fails 1" in capsys.readouterr().out
    assert main(["submission", submission_hash, "--download-finished", "--reset-fail-count"]) == 0
    assert "fail counts reset" in capsys.readouterr().out
    assert main(["submission", submission_hash]) == 0
    assert "fails 1" not in capsys.readouterr().out
    assert main(["submission", submission_hash, "--clean"]) == 0
    assert main(["submission", submission_hash]) == 1
    assert "no record of submission" in capsys.readouterr().err


def test_plugins_table_and_json(capsys):
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "dpdispatcher-shell" in table and "LazyLocalContext" in table
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"name", "distribution", "version", "machines", "contexts", "hooks"} <= set(report["plugins"][0])
    assert {"shell", "local"} <= {p["name"] for p in report["plugins"]}
    assert isinstance(report["load_errors"], list)


def test_doc_prints_arguments_including_plugins(capsys):
    assert main(["doc", "machine"]) == 0
    out = capsys.readouterr().out
    assert "machine/batch_type" in out and "machine[context_type=LocalContext]/remote_profile/symlink" in out
    assert main(["doc", "resources"]) == 0
    assert "resources/strategy/ratio_unfinished" in capsys.readouterr().out


def test_submit_says_the_submission_succeeded_with_its_hash(tmp_path, capsys):
    assert main(["submit", str(submission_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("submission ") and "succeeded (2 finished)" in out
