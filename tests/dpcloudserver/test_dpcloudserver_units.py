"""DpCloudServer pieces that need no server: the checked extraction, the job payload, remote_profile's
arguments, and the published ``dpdispatcher.dpcloudserver`` paths."""

from __future__ import annotations

import importlib
import stat
import zipfile
from pathlib import Path

import pytest
from conftest import machine_dict

from dpdispatcher import Machine, _published, plugins
from dpdispatcher.errors import ConfigError, UnsafePathError
from dpdispatcher_dpcloudserver import API, RETCODE, archive
from dpdispatcher_dpcloudserver.payload import job_payload

pytestmark = pytest.mark.dpcloudserver


def hostile_zip(path: Path, name: str, link_to: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good/result.txt", "fine\n")
        info = zipfile.ZipInfo(name)
        if link_to:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, link_to or "bad\n")
    return path


@pytest.mark.parametrize(
    ("name", "link_to", "why"),
    [
        ("../up.txt", "", "a '..' component"),
        ("a/../../up.txt", "", "a '..' component"),
        ("/tmp/abs.txt", "", "an absolute path"),
        ("C:/win.txt", "", "an absolute path"),
        ("a\\..\\up.txt", "", "a backslash"),
        ("out", "/etc", "a link to the absolute path '/etc'"),
        ("a/out", "../../x", "a link to '../../x', outside the directory"),
    ],
)
def test_unzip_refuses_a_member_that_escapes_and_writes_nothing(
    tmp_path: Path, name: str, link_to: str, why: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafePathError) as err:
        archive.unzip_file(str(hostile_zip(tmp_path / "r.zip", name, link_to)), str(out))
    assert why in str(err.value) and "nothing was extracted" in str(err.value)
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.zip"]


def test_unzip_keeps_a_link_that_stays_inside_and_replaces_links_rather_than_writing_through(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    outside = tmp_path / "user.txt"
    outside.write_text("the user's\n")
    (out / "a" / "res.txt").symlink_to(outside)  # left by something else: the archive must not write through it
    with zipfile.ZipFile(tmp_path / "r.zip", "w") as zf:
        zf.writestr("a/res.txt", "result\n")
        info = zipfile.ZipInfo("a/alias")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "res.txt")
    assert archive.unzip_file(str(tmp_path / "r.zip"), str(out)) == ["a/res.txt", "a/alias"]
    assert outside.read_text() == "the user's\n"
    assert (out / "a" / "res.txt").read_text() == "result\n"
    assert (out / "a" / "alias").readlink() == Path("res.txt")


def test_zip_file_list_packs_files_globs_dirs_and_names_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.dat").write_text("x")
    (tmp_path / "a.txt").write_text("a")
    archive.zip_file_list(str(tmp_path), str(tmp_path / "o.zip"), ["a.txt", "d", "*.nothing"], dirs=["empty"])
    assert sorted(zipfile.ZipFile(tmp_path / "o.zip").namelist()) == ["a.txt", "d/x.dat", "empty/"]
    with pytest.raises(FileNotFoundError, match=r"gone\.txt does not exist"):
        archive.zip_file_list(str(tmp_path), str(tmp_path / "p.zip"), ["gone.txt"])


def test_the_job_payload_is_1_1_0s_camel_case_body() -> None:
    body = job_payload(
        "container",
        ["https://bucket/program/1/x.zip"],
        {
            "job_name": "n",
            "scass_type": "c8",
            "platform": "ali",
            "checkpoint_files": "sync_files",
            "command": "bash j.sub",
            "backward_files": ["t/out.txt"],
            "log_file": "t/log",
            "grouped": True,
        },
        program_id=12,
        group_id=5,
    )
    assert body == {
        "jobName": "n",
        "scassType": "c8",
        "platform": "ali",
        "checkpointFiles": ["*"],
        "jobType": "container",
        "ossPath": ["https://bucket/program/1/x.zip"],
        "jobResources": ["https://bucket/program/1/x.zip"],
        "projectId": 12,
        "jobGroupId": 5,
        "cmd": "bash j.sub",
        "outFiles": ["t/out.txt"],
        "logFiles": ["t/log"],
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p["input_data"].pop("platform"), "remote_profile/input_data/platform"),
        (lambda p: p["input_data"].update(checkpoint_time=5), "remote_profile/input_data/checkpoint_time"),
        (lambda p: p.update(program_id="abc"), "remote_profile/program_id"),
        (lambda p: p.pop("email"), "remote_profile/email"),
    ],
)
def test_remote_profile_is_checked_with_argument_paths(tmp_path: Path, change: object, path: str) -> None:
    config = machine_dict(tmp_path)
    change(config["remote_profile"])  # type: ignore[operator]
    with pytest.raises(ConfigError, match=path):
        Machine.load_from_dict(config)


def test_project_id_and_machine_type_are_the_old_names(tmp_path: Path) -> None:
    config = machine_dict(tmp_path)
    profile = config["remote_profile"]
    profile["project_id"] = profile.pop("program_id")
    profile["input_data"]["machine_type"] = profile["input_data"].pop("scass_type")
    machine = Machine.load_from_dict(config)
    assert machine.context.remote_profile["program_id"] == 1234
    assert machine.context.remote_profile["input_data"]["scass_type"] == "c8_m31_1 * NVIDIA T4"
    assert "password" not in machine.serialize()["remote_profile"]


def test_the_published_paths_are_served_by_this_plugin() -> None:
    from dpdispatcher.dpcloudserver import RETCODE as package_retcode
    from dpdispatcher.dpcloudserver.api import API as published_api
    from dpdispatcher.dpcloudserver.client import RequestInfoException
    from dpdispatcher.dpcloudserver.retcodes import RETCODE as published_retcode
    from dpdispatcher.dpcloudserver.zip_file import unzip_file, zip_file_list
    from dpdispatcher.machines.dp_cloud_server import Bohrium, DpCloudServer, Lebesgue

    assert published_api is API and package_retcode is published_retcode is RETCODE
    assert (unzip_file, zip_file_list) == (archive.unzip_file, archive.zip_file_list)
    assert issubclass(RequestInfoException, Exception)
    assert Bohrium is DpCloudServer is Lebesgue
    assert RETCODE.PWDERR == "2104" and RETCODE.UNKNOWNERR == "2400"


def test_a_published_path_without_the_plugin_names_the_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "_registry", plugins.PluginRegistry())  # nothing installed
    monkeypatch.setattr(_published, "_provider", lambda module: None)
    api_module = importlib.import_module("dpdispatcher.dpcloudserver.api")
    with pytest.raises(ImportError, match="install dpdispatcher-dpcloudserver"):
        api_module.API  # noqa: B018
    with pytest.raises(AttributeError):
        api_module.NotInTheApi  # noqa: B018
