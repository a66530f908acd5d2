"""The submission file's own keys and roots, as ``dpdisp submit`` reads them."""

from __future__ import annotations

import json
import logging

import pytest

from dpdispatcher.cli.submit_cmd import load_submission
from dpdispatcher.errors import ConfigError


def submission_file(tmp_path, **extra):
    data = {
        "work_base": "wb/",
        "machine": {"batch_type": "Shell", "context_type": "LocalContext", "local_root": "./", "remote_root": "r/"},
        "resources": {"group_size": 1},
        "task_list": [{"command": "true", "task_work_path": "t/"}],
        **extra,
    }
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(data))
    return path


def test_an_unknown_top_level_key_is_a_warning_like_any_other_unknown_key(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("DPDISPATCHER_STRICT", raising=False)
    with caplog.at_level(logging.WARNING):
        submission = load_submission(str(submission_file(tmp_path, task_max=10)))
    assert len(submission.belonging_tasks) == 1
    assert "unknown key(s) ['task_max']" in caplog.text and "DPDISPATCHER_STRICT" in caplog.text


def test_strict_makes_an_unknown_top_level_key_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['task_max'\]"):
        load_submission(str(submission_file(tmp_path, task_max=10)))


def test_a_relative_remote_root_on_this_machine_is_relative_to_the_file_and_an_ssh_one_is_left_alone(tmp_path):
    local = load_submission(str(submission_file(tmp_path)))
    assert local.machine is not None
    assert local.machine.context.init_remote_root == f"{tmp_path}/r/"
    ssh = submission_file(tmp_path)
    data = json.loads(ssh.read_text())
    data["machine"].update(context_type="SSHContext", remote_profile={"hostname": "h", "username": "u"})
    ssh.write_text(json.dumps(data))
    remote = load_submission(str(ssh))
    assert remote.machine is not None
    assert remote.machine.context.init_remote_root == "r/"  # resolved on the remote side, against the login directory
