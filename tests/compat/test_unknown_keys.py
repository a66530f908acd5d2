"""Keys no argument knows: published configs carry them, so they are a warning naming the path, unless strict."""

from __future__ import annotations

import json

import pytest

from dpdispatcher import Machine, Resources
from dpdispatcher.arginfo import STRICT_ENV
from dpdispatcher.cli import main
from dpdispatcher.errors import ConfigError


def local_machine_dict(tmp_path, **profile):
    return {
        "batch_type": "Shell",
        "context_type": "LocalContext",
        "local_root": str(tmp_path),
        "remote_root": str(tmp_path / "remote"),
        "remote_profile": profile,
    }


def test_a_hostname_on_a_local_context_is_a_warning_and_ignored(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    machine = Machine.load_from_dict(local_machine_dict(tmp_path, hostname="login01", symlnk=True))
    assert machine.context.remote_profile == {"symlink": True}
    assert "machine/remote_profile/hostname: unknown key; it is ignored" in caplog.text
    assert "machine/remote_profile/symlnk: unknown key (did you mean symlink?)" in caplog.text


def test_dpgens_resources_with_local_root_and_task_max_load(caplog, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    resources = Resources.load_from_dict({"group_size": 1, "local_root": "./", "task_max": 8, "para_dg": 2})
    assert resources.kwargs == {} and resources.para_deg == 1
    for key in (
        "resources/local_root",
        "resources/task_max",
        "resources/para_dg: unknown key (did you mean para_deg?)",
    ):
        assert key in caplog.text


def test_strict_makes_them_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ConfigError, match="machine/remote_profile/hostname"):
        Machine.load_from_dict(local_machine_dict(tmp_path, hostname="login01"))
    with pytest.raises(ConfigError, match="resources/task_max"):
        Resources.load_from_dict({"group_size": 1, "task_max": 8})


def test_dpdisp_submit_strict(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    (tmp_path / "t").mkdir()
    spec = tmp_path / "submission.json"
    spec.write_text(
        json.dumps(
            {
                "work_base": ".",
                "machine": local_machine_dict(tmp_path, hostname="x"),
                "resources": {"group_size": 1},
                "task_list": [{"command": "true", "task_work_path": "t/"}],
            }
        )
    )
    assert main(["submit", str(spec), "--strict"]) == 1
    assert "machine/remote_profile/hostname" in capsys.readouterr().err
    monkeypatch.delenv(STRICT_ENV, raising=False)
    assert main(["submit", str(spec)]) == 0
