"""`dpdisp run SCRIPT.py`: a Python script whose PEP 723 metadata holds its submission, as 1.1.0 runs it.

Pinned against 1.1.0, run side by side on the same scripts:

- the `# /// script` block is found as PEP 723's reference regex finds it, and its `[tool.dpdispatcher]`
  table gives machine, resources, task_list, work_base (default `./`), forward/backward common files
  and continue_on_failure;
- every task runs `COMMAND "$REMOTE_ROOT"/script_<sha1 of the script text>.py` from its own directory,
  COMMAND defaulting to `python` (whichever the job's PATH finds), the script written into the job root;
  the block's `dependencies` are not acted on;
- a `task_work_path` that is a directory is taken as is, else as a glob: one task per match;
- no metadata, two `script` blocks, and a task path that matches nothing are errors (1.1.0: ValueError or
  FileNotFoundError tracebacks; here one line naming the script and the argument path).

Where we differ on purpose: a glob's matches are directories only (1.1.0 also makes tasks of matching
files, which cannot run); relative paths are relative to the script, not the current directory; the job
root keeps no copy of the script once it is cleaned (also under LazyLocalContext).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dpdispatcher.cli import main
from dpdispatcher.errors import ConfigError
from dpdispatcher.records import record_path
from dpdispatcher.script_run import build_script_submission, load_script_submission, read_script_metadata

#: what the script does in each task directory: say where it ran and as what
BODY = """
import json, os, sys
with open("ran.json", "w") as f:
    json.dump({"cwd": os.getcwd(), "argv0": sys.argv[0], "input": open("in.txt").read()}, f)
"""


def metadata(toml: str) -> str:
    """``toml`` as a PEP 723 `script` block."""
    lines = ["# /// script", *(f"# {line}" if line else "#" for line in toml.strip().splitlines()), "# ///"]
    return "\n".join(lines) + "\n"


def machine_toml(tmp_path: Path, context: str = "LocalContext") -> str:
    return (
        f'machine = {{ batch_type = "Shell", context_type = "{context}", local_root = "./", '
        f'remote_root = "{tmp_path / "remote"}" }}'
    )


def task_dirs(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        (tmp_path / "wb" / name).mkdir(parents=True)
        (tmp_path / "wb" / name / "in.txt").write_text(f"{name}\n")


def write_script(tmp_path: Path, toml: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(metadata(toml) + BODY)
    return path


def glob_script(tmp_path: Path, context: str = "LocalContext") -> Path:
    """Tasks `md.*` (a glob) in `wb/`, one job each; the script leaves `ran.json`, which comes back."""
    task_dirs(tmp_path, ["md.0", "md.1", "other"])
    (tmp_path / "wb" / "md.file").write_text("a file, not a task directory\n")
    return write_script(
        tmp_path,
        f"""
requires-python = ">=3.9"
dependencies = ["a-package-nobody-installs"]
[tool.dpdispatcher]
work_base = "wb"
{machine_toml(tmp_path, context)}
resources = {{ group_size = 1 }}
[[tool.dpdispatcher.task_list]]
task_work_path = "md.*"
forward_files = ["in.txt"]
backward_files = ["ran.json"]
""",
    )


def test_run_stages_the_script_and_runs_it_in_every_matching_directory(tmp_path, capsys):
    """1.1.0: `python "$REMOTE_ROOT"/script_<sha1>.py` in each directory the glob matches; dependencies ignored."""
    script = glob_script(tmp_path)
    staged = f"script_{hashlib.sha1(script.read_text().encode()).hexdigest()}.py"
    assert main(["run", str(script)]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "2 task directories" in out
    for name in ("md.0", "md.1"):
        ran = json.loads((tmp_path / "wb" / name / "ran.json").read_text())
        assert ran["input"] == f"{name}\n"
        assert Path(ran["cwd"]).name == name
        assert Path(ran["argv0"]).name == staged
        assert Path(ran["argv0"]).parent == Path(ran["cwd"]).parent  # the job root
    assert not (tmp_path / "wb" / "other" / "ran.json").exists()
    assert list((tmp_path / "remote").iterdir()) == []  # cleaned, the staged script with it


def test_run_under_lazy_local_leaves_no_script_in_the_work_base(tmp_path):
    script = glob_script(tmp_path, context="LazyLocalContext")
    assert main(["run", str(script)]) == 0
    assert (tmp_path / "wb" / "md.1" / "ran.json").exists()
    assert not list((tmp_path / "wb").glob("script_*.py"))


def test_the_command_is_the_interpreter_and_the_table_reaches_the_submission(tmp_path):
    """1.1.0: command defaults to `python`; a given command is the launcher; the optional keys are used."""
    task_dirs(tmp_path, ["a", "b"])
    script = write_script(
        tmp_path,
        f"""
[tool.dpdispatcher]
work_base = "wb"
forward_common_files = ["shared.dat"]
backward_common_files = ["summary.txt"]
continue_on_failure = true
{machine_toml(tmp_path)}
resources = {{ group_size = 2 }}
[[tool.dpdispatcher.task_list]]
task_work_path = "a"
[[tool.dpdispatcher.task_list]]
task_work_path = "b/"
command = "python3 -u"
task_name = "bee"
""",
    )
    submission = load_script_submission(str(script))
    staged = submission.script_name
    assert staged == f"script_{hashlib.sha1(script.read_text().encode()).hexdigest()}.py"
    assert [(t.task_work_path, t.command, t.task_name) for t in submission.belonging_tasks] == [
        ("a", f'python "$REMOTE_ROOT"/{staged}', None),
        ("b/", f'python3 -u "$REMOTE_ROOT"/{staged}', "bee"),
    ]
    assert submission.work_base == "wb"
    assert submission.forward_common_files == ["shared.dat"]
    assert submission.backward_common_files == ["summary.txt"]
    assert submission.continue_on_failure is True
    assert submission.machine is not None and submission.machine.context.init_local_root == str(tmp_path)


def test_a_changed_script_is_a_new_submission(tmp_path):
    script = glob_script(tmp_path)
    first = load_script_submission(str(script))
    script.write_text(script.read_text() + "print('one more line')\n")
    second = load_script_submission(str(script))
    assert first.script_name != second.script_name
    assert first.submission_hash != second.submission_hash


def test_a_failing_script_is_reported_with_its_task(tmp_path, capsys):
    task_dirs(tmp_path, ["bad"])
    script = tmp_path / "fails.py"
    script.write_text(
        metadata(f"""
[tool.dpdispatcher]
work_base = "wb"
{machine_toml(tmp_path).replace('local_root = "./"', 'local_root = "./", retry_count = 0')}
resources = {{ group_size = 1 }}
[[tool.dpdispatcher.task_list]]
task_work_path = "bad"
""")
        + "import sys\nsys.exit('the script failed on purpose')\n"
    )
    assert main(["run", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"task directory {tmp_path / 'wb' / 'bad'} (command: python " in err
    assert "exit code 1" in err and "the script failed on purpose" in err


def test_no_metadata_is_an_error(tmp_path, capsys):
    """1.1.0: ValueError "No PEP 723 metadata found."."""
    script = tmp_path / "plain.py"
    script.write_text("print('hello')\n# /// script\n# [tool.dpdispatcher]\n")  # never closed: no block
    assert main(["run", str(script)]) == 1
    assert capsys.readouterr().err == (
        f"dpdisp: error: {script}: no PEP 723 metadata: `dpdisp run` needs a `# /// script` block "
        "with a [tool.dpdispatcher] table\n"
    )


def test_two_script_blocks_are_an_error(tmp_path):
    """1.1.0: ValueError "Multiple script blocks found"; other block types do not count (PEP 723)."""
    text = metadata("dependencies = []\n[tool.x]\ny = 1") + "\n" + metadata("[tool.dpdispatcher]")
    with pytest.raises(ConfigError, match=r"job\.py: 2 `# /// script` metadata blocks \(lines 1, 7\)"):
        read_script_metadata(text, "job.py")
    other_type = metadata("[tool.dpdispatcher]\nwork_base = 'x'").replace("/// script", "/// pyproject")
    assert read_script_metadata(other_type + "\n" + metadata("dependencies = []"), "job.py") == {"dependencies": []}


def test_a_block_without_the_table_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"job\.py: the `# /// script` block has no \[tool.dpdispatcher\] table"):
        build_script_submission(metadata('dependencies = ["numpy"]'), str(tmp_path / "job.py"))


def test_invalid_toml_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"job\.py: the `# /// script` block is not valid TOML: .*line 2"):
        read_script_metadata(metadata("[tool.dpdispatcher]\nwork_base = "), "job.py")


def test_a_task_path_that_matches_nothing_is_an_error(tmp_path, capsys):
    """1.1.0: FileNotFoundError "Task work path ... not found."; files do not count as task directories."""
    script = glob_script(tmp_path)
    script.write_text(script.read_text().replace('"md.*"', '"md.f*"'))
    assert main(["run", str(script)]) == 1
    assert capsys.readouterr().err == (
        f"dpdisp: error: {script}: tool.dpdispatcher/task_list/0/task_work_path: 'md.f*' matches no directory "
        f"under {tmp_path / 'wb'} (only files: md.file)\n"
    )
    assert not (tmp_path / "remote").exists() and not list(record_path("x").parent.glob("*.json"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('task_work_path = "md.*"', 'task_work_path = "md.*"\n# outlog = 3'), "tool.dpdispatcher/task_list/0/outlog"),
        (("group_size = 1", "group_size = -1"), "resources/group_size"),
        (('work_base = "wb"', "work_base = 5"), "tool.dpdispatcher/work_base"),
        (('batch_type = "Shell", ', ""), "machine/batch_type"),
    ],
    ids=["task", "resources", "work_base", "machine"],
)
def test_config_errors_name_their_argument_path(tmp_path, change, named):
    script = glob_script(tmp_path)
    script.write_text(script.read_text().replace(*change))
    with pytest.raises(ConfigError) as err:
        load_script_submission(str(script))
    assert str(err.value).startswith(f"{script}: ") and named in str(err.value)


def test_refs_in_the_metadata_need_allow_ref(tmp_path, capsys):
    """1.1.0 `dpdisp run --allow-ref`: `$ref` in the table loads the file; refused without the flag."""
    task_dirs(tmp_path, ["md.0"])
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "machine.json").write_text(
        json.dumps(
            {
                "batch_type": "Shell",
                "context_type": "LocalContext",
                "local_root": "./",
                "remote_root": str(tmp_path / "remote"),
            }
        )
    )
    script = write_script(
        tmp_path,
        """
[tool.dpdispatcher]
work_base = "wb"
machine = { "$ref" = "conf/machine.json" }
resources = { group_size = 1 }
[[tool.dpdispatcher.task_list]]
task_work_path = "md.0"
forward_files = ["in.txt"]
backward_files = ["ran.json"]
""",
    )
    assert main(["run", str(script)]) == 1
    assert f"{script}: tool/dpdispatcher/machine: `$ref` would load 'conf/machine.json'" in capsys.readouterr().err
    assert main(["run", str(script), "--allow-ref"]) == 0
    assert json.loads((tmp_path / "wb" / "md.0" / "ran.json").read_text())["input"] == "md.0\n"
