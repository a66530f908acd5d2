"""dpdisp plugins new: a plugin package that installs and passes its own contract tests out of the box."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # the core depends on tomli before 3.11
    import tomli as tomllib

from dpdispatcher.cli import main
from dpdispatcher.scaffold import PluginNames

PIP_TIMEOUT = 120
PYTEST_TIMEOUT = 120


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("kind", "cls", "source"),
    [("machine", "MyQueue", "machine.py"), ("context", "MyQueueContext", "context.py")],
)
def test_writes_an_installable_package(tmp_path, capsys, kind, cls, source):
    assert main(["plugins", "new", "my-queue", "--kind", kind, "--dir", str(tmp_path)]) == 0
    root = tmp_path / "dpdispatcher-my-queue"
    assert capsys.readouterr().out.startswith(f"wrote {root}\n")
    assert listing(root) == sorted(
        [
            "README.md",
            "pyproject.toml",
            "src",
            "src/dpd_my_queue",
            "src/dpd_my_queue/__init__.py",
            f"src/dpd_my_queue/{source}",
            "tests",
            "tests/conftest.py",
            "tests/test_contract.py",
        ]
    )
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "dpdispatcher-my-queue"
    assert project["project"]["entry-points"]["dpdispatcher"] == {"my-queue": "dpd_my_queue"}
    assert project["project"]["dependencies"] == ["dpdispatcher-core>=0.2,<0.3"]
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # valid Python, every placeholder filled
    for path in root.rglob("*"):
        assert not path.is_file() or "{{" not in path.read_text(), path
    assert f"class {cls}(" in (root / "src" / "dpd_my_queue" / source).read_text()
    assert f'"{cls}"' in (root / "tests" / "test_contract.py").read_text()
    assert "dpdisp plugins new my-queue --kind " + kind in (root / "README.md").read_text()


def test_every_method_to_fill_in_is_documented(tmp_path, capsys):
    import ast

    assert main(["plugins", "new", "q", "--kind", "machine", "--dir", str(tmp_path)]) == 0
    tree = ast.parse((tmp_path / "dpdispatcher-q" / "src" / "dpd_q" / "machine.py").read_text())
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    methods = {node.name: ast.get_docstring(node) for node in cls.body if isinstance(node, ast.FunctionDef)}
    assert {"gen_script_header", "submit_jobs", "check_statuses", "kill_jobs"} <= set(methods)
    assert all(methods.values()), methods


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Bad.Name", "--kind", "machine"], "bad plugin name 'Bad.Name': use lower-case letters and digits"),
        (["9lives", "--kind", "context"], "bad plugin name '9lives'"),
        (["slurm", "--kind", "machine"], "plugin name 'slurm' is DPDispatcher's dpdispatcher-slurm"),
        (["shell2", "--kind", "machine"], ""),  # free: written
        (["lazy-local", "--kind", "context"], "context LazyLocalContext would clash with LazyLocalContext of"),
    ],
)
def test_bad_names_are_one_line_errors_and_write_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "keep.txt").write_text("mine")
    code = main(["plugins", "new", *argv, "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    if not message:
        assert code == 0 and (tmp_path / "dpdispatcher-shell2").is_dir()
        return
    assert code == 1 and err.count("\n") == 1 and err.startswith("dpdisp: error: ") and message in err
    assert listing(tmp_path) == ["keep.txt"]


def test_an_existing_directory_is_left_alone(tmp_path, capsys):
    target = tmp_path / "dpdispatcher-q"
    target.mkdir()
    (target / "notes.txt").write_text("my notes")
    assert main(["plugins", "new", "q", "--kind", "machine", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"dpdisp: error: {target} already exists; remove it or pick another --dir (nothing was written)\n"
    assert listing(tmp_path) == ["dpdispatcher-q", "dpdispatcher-q/notes.txt"]
    assert main(["plugins", "new", "q", "--kind", "machine", "--dir", str(tmp_path / "absent")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_kind_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["plugins", "new", "q"])
    assert "--kind" in capsys.readouterr().err


def test_names_of_a_plugin():
    names = PluginNames.of("my_queue", "context")
    assert (names.distribution, names.module, names.cls) == ("dpdispatcher-my-queue", "dpd_my_queue", "MyQueueContext")


def _venv_seeing_this_environment(root: Path) -> Path:
    """A fresh venv (no pip of its own) whose Python also sees this interpreter's packages: the core and the
    local contexts of this checkout, pytest, pip and the core's dependencies. Nothing is downloaded but the
    build backend pip fetches to build the plugin."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = root / "bin" / "python"
    inner = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    Path(inner, "outer-environment.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    return python


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["machine", "context"])
def test_the_new_plugin_installs_and_passes_its_own_tests(tmp_path, capsys, kind):
    assert main(["plugins", "new", "fresh-one", "--kind", kind, "--dir", str(tmp_path)]) == 0
    package = tmp_path / "dpdispatcher-fresh-one"
    python = _venv_seeing_this_environment(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", str(package)],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env=env,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = subprocess.run(
        [str(python), "-m", "dpdispatcher.dpdisp", "plugins"], capture_output=True, text=True, timeout=60, env=env
    )
    rows = [line.split()[:3] for line in listed.stdout.splitlines()]
    assert ["fresh-one", "dpdispatcher-fresh-one", "0.1.0"] in rows, listed.stdout
    # src/ layout: the tests import the installed package, not the source folder
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=PYTEST_TIMEOUT,
        env={**env, "CI": "1"},
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
