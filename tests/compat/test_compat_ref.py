"""`$ref` snippets in submission files (`dpdisp submit --allow-ref`), as the published 1.1.0 loads them.

Pinned against 1.1.0 (with its dargs 0.5.1), run side by side on the same files:

- `{"$ref": "machine.json"}` stands for that file's mapping; the mapping's own keys override the loaded
  ones; a relative name is relative to the file that holds the `$ref`; referenced files may refer further;
  JSON, or YAML by `.yaml`/`.yml`; any other suffix, a file that is not a mapping, and a cycle are errors.
- Without `--allow-ref`, 1.1.0 refuses too (a ValueError traceback: "$ref is not allowed by default").
  We refuse on purpose (a config could pull any file on this machine into job scripts and records) with
  one line that names the file, the argument path and `--allow-ref`.

Where we differ on purpose: a relative name in the submission file itself is relative to that file, not
to the current directory, as every relative path of ``dpdisp submit`` is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpdispatcher import Resources
from dpdispatcher.cli import main
from dpdispatcher.errors import ConfigError
from dpdispatcher.refs import MAX_REFS, load_config_with_refs, resolve_refs


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def shared_configs(tmp_path: Path) -> Path:
    """A submission whose machine, resources and one task come from `$ref` files in a `shared/` folder.

    The machine file refers on to `profile/roots.yaml` (relative to `shared/`); the submission
    overrides the machine's retry_count; the task file's `backward_files` are overridden too.
    """
    work = tmp_path / "job" / "wb"
    for name in ("t0", "t1"):
        (work / name).mkdir(parents=True)
        (work / name / "in.txt").write_text(f"{name}\n")
    shared = tmp_path / "shared"
    (shared / "profile").mkdir(parents=True)
    (shared / "profile" / "roots.yaml").write_text(yaml.safe_dump({"remote_root": str(tmp_path / "remote")}))
    write_json(
        shared / "machine.json",
        {"$ref": "profile/roots.yaml", "batch_type": "Shell", "context_type": "LocalContext", "retry_count": 7},
    )
    (shared / "resources.yml").write_text(yaml.safe_dump({"group_size": 1}))
    write_json(
        shared / "task.json",
        {"command": "cp in.txt out.txt", "forward_files": ["in.txt"], "backward_files": ["never.txt"]},
    )
    return write_json(
        tmp_path / "job" / "submission.json",
        {
            "work_base": "wb",
            "machine": {"$ref": "../shared/machine.json", "local_root": ".", "retry_count": 0},
            "resources": {"$ref": "../shared/resources.yml"},
            "task_list": [
                {"$ref": "../shared/task.json", "task_work_path": "t0/", "backward_files": ["out.txt"]},
                {"command": "cp in.txt out.txt", "task_work_path": "t1/", "forward_files": ["in.txt"]},
            ],
        },
    )


def test_submit_refuses_refs_without_allow_ref_and_runs_nothing(tmp_path, capsys):
    """1.1.0: `dpdisp submit` without --allow-ref refuses a file with `$ref`; here with one clear line."""
    spec = shared_configs(tmp_path)
    before = spec.read_text()
    assert main(["submit", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}: machine: `$ref` would load '../shared/machine.json'" in err
    assert "--allow-ref" in err and "Traceback" not in err
    assert not (tmp_path / "remote").exists()  # nothing was uploaded or submitted
    assert spec.read_text() == before


def test_submit_with_allow_ref_runs_the_referenced_configs(tmp_path, capsys):
    """1.1.0 with --allow-ref: refs relative to their own file, nested, YAML too, local keys override."""
    spec = shared_configs(tmp_path)
    data = load_config_with_refs(spec, allow_ref=True)
    assert data["machine"] == {
        "batch_type": "Shell",
        "context_type": "LocalContext",
        "remote_root": str(tmp_path / "remote"),
        "local_root": ".",
        "retry_count": 0,
    }
    assert data["task_list"][0]["backward_files"] == ["out.txt"]
    assert main(["submit", str(spec), "--allow-ref"]) == 0
    assert "succeeded" in capsys.readouterr().out
    work = tmp_path / "job" / "wb"
    assert (work / "t0" / "out.txt").read_text() == "t0\n"


def test_a_yaml_submission_file_with_refs(tmp_path):
    """YAML submission files are ours (1.1.0's `submit` reads JSON only); `$ref` works in them alike."""
    write_json(tmp_path / "parts" / "res.json", {"group_size": 3})
    spec = tmp_path / "submission.yaml"
    spec.write_text(
        yaml.safe_dump({"work_base": ".", "resources": {"$ref": "parts/res.json", "para_deg": 2}, "task_list": []})
    )
    with pytest.raises(ConfigError, match=r"submission\.yaml: resources: `\$ref` would load 'parts/res.json'"):
        load_config_with_refs(spec)
    assert load_config_with_refs(spec, allow_ref=True)["resources"] == {"group_size": 3, "para_deg": 2}


def test_a_missing_ref_file_is_named(tmp_path, capsys):
    spec = write_json(tmp_path / "s.json", {"resources": {"$ref": "nowhere/res.json"}})
    with pytest.raises(ConfigError) as err:
        load_config_with_refs(spec, allow_ref=True)
    assert str(err.value) == (
        f"{spec}: resources: `$ref` 'nowhere/res.json': config file not found: {tmp_path / 'nowhere' / 'res.json'}"
    )


def test_a_cycle_is_an_error_naming_the_files(tmp_path):
    """1.1.0 (dargs): "Cyclic $ref detected"; here the chain of files is shown."""
    write_json(tmp_path / "a.json", {"$ref": "b.json"})
    write_json(tmp_path / "b.json", {"inner": {"$ref": "a.json"}})
    spec = write_json(tmp_path / "s.json", {"machine": {"$ref": "a.json"}})
    with pytest.raises(ConfigError) as err:
        load_config_with_refs(spec, allow_ref=True)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert str(err.value) == f"{b}: machine/inner: `$ref` cycle: {spec} -> {a} -> {b} -> {a}"


def test_a_ref_to_the_referring_file_itself_is_a_cycle(tmp_path):
    spec = write_json(tmp_path / "s.json", {"machine": {"$ref": "s.json"}})
    with pytest.raises(ConfigError, match="cycle"):
        load_config_with_refs(spec, allow_ref=True)


@pytest.mark.parametrize(
    ("content", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("", "NoneType")], ids=["list", "str", "empty"]
)
def test_a_ref_that_is_not_a_mapping_is_an_error(tmp_path, content, kind):
    """1.1.0 (dargs): "must contain a mapping/object at the top level"."""
    (tmp_path / "res.yaml").write_text(content)
    spec = write_json(tmp_path / "s.json", {"task_list": [{"$ref": "res.yaml"}]})
    with pytest.raises(ConfigError) as err:
        load_config_with_refs(spec, allow_ref=True)
    assert (
        str(err.value)
        == f"{spec}: task_list/0: `$ref` 'res.yaml': {tmp_path / 'res.yaml'} holds a {kind}, not a mapping of keys"
    )


@pytest.mark.parametrize("name", ["machine.txt", "machine", 42, ""])
def test_a_ref_must_name_a_json_or_yaml_file(tmp_path, name):
    """1.1.0 (dargs): an extension other than .json/.yml/.yaml is refused."""
    spec = write_json(tmp_path / "s.json", {"machine": {"$ref": name}})
    with pytest.raises(ConfigError, match=r"s\.json: machine: `\$ref` .*(must name a|must be a file name)"):
        load_config_with_refs(spec, allow_ref=True)


def test_a_broken_ref_file_names_line_and_column(tmp_path):
    (tmp_path / "m.json").write_text('{"batch_type": "Shell",}')
    spec = write_json(tmp_path / "s.json", {"machine": {"$ref": "m.json"}})
    with pytest.raises(
        ConfigError, match=r"s\.json: machine: `\$ref` 'm\.json': .*m\.json is not valid JSON: .* line 1"
    ):
        load_config_with_refs(spec, allow_ref=True)


def test_refs_that_expand_without_end_are_stopped(tmp_path):
    """Two refs per file, ten files deep: 2**10 loads, more than MAX_REFS, though never a cycle."""
    for level in range(10):
        write_json(
            tmp_path / f"l{level}.json", {"a": {"$ref": f"l{level + 1}.json"}, "b": {"$ref": f"l{level + 1}.json"}}
        )
    write_json(tmp_path / "l10.json", {"leaf": 1})
    assert MAX_REFS < 2**10
    spec = write_json(tmp_path / "s.json", {"$ref": "l0.json"})
    with pytest.raises(ConfigError, match=f"more than {MAX_REFS} `\\$ref` files"):
        load_config_with_refs(spec, allow_ref=True)


def test_resolving_leaves_the_data_as_it_was(tmp_path):
    write_json(tmp_path / "m.json", {"batch_type": "Shell"})
    data = {"machine": {"$ref": "m.json"}, "task_list": [{"$ref": "m.json"}]}
    resolved = resolve_refs(data, str(tmp_path / "s.json"), allow_ref=True)
    assert resolved == {"machine": {"batch_type": "Shell"}, "task_list": [{"batch_type": "Shell"}]}
    assert data == {"machine": {"$ref": "m.json"}, "task_list": [{"$ref": "m.json"}]}


def test_a_file_without_refs_needs_no_permission(tmp_path):
    data = {"work_base": ".", "machine": {"remote_profile": {"port": 22}}, "task_list": [{"x": [1, {"y": None}]}]}
    assert load_config_with_refs(write_json(tmp_path / "s.json", data)) == data


def test_a_ref_left_in_a_dict_given_to_a_loader_is_a_config_error_naming_the_way_out():
    """1.1.0 raises dargs' ValueError (a traceback); the loaders here give one line saying how to resolve it."""
    with pytest.raises(ConfigError, match=r"invalid resources: it holds a `\$ref`.*--allow-ref"):
        Resources.load_from_dict({"group_size": 1, "envs": {"$ref": "envs.json"}})
