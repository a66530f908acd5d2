"""A third party adds a batch type without touching this repository.

The fixture distributions under this directory are built and installed, with
``./core`` and ``./plugins/local``, into a fresh virtual environment (nothing
editable, nothing from this checkout on ``sys.path``). Everything is then
driven through that environment's ``dpdisp``:

* ``fixture_plugin`` (``dpdispatcher-echo-scheduler``) provides the
  ``EchoScheduler`` batch type and a phase hook;
* ``broken_plugin`` (``dpdispatcher-broken-plugin``) raises ImportError when
  loaded: it must be reported while every other plugin keeps working.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DISABLE_ENV = "DPDISPATCHER_DISABLE_THIRD_PARTY_PLUGINS"

VENV_TIMEOUT = 180
PIP_TIMEOUT = 900
COMMAND_TIMEOUT = 180


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None):
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"timed out after {timeout} s: {' '.join(cmd)}\n{err.stdout or ''}\n{err.stderr or ''}")


def _ok(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


class Venv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a user who activated this venv (nothing from the outer one leaks in)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", DISABLE_ENV)}
        env["VIRTUAL_ENV"] = str(self.root)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["DPDISPATCHER_HOME"] = str(home)
        env["CI"] = "1"  # no progress display
        env.update(extra)
        return env

    def dpdisp(self, *args: str, home: Path, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
        return _run([str(self.bin / "dpdisp"), *args], timeout=COMMAND_TIMEOUT, env=self.env(home, **extra), cwd=cwd)

    def plugins_json(self, home: Path, **extra: str) -> dict:
        result = _ok(self.dpdisp("plugins", "--json", home=home, **extra), "dpdisp plugins --json")
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the core, the local contexts and the two fixture plugins (built from copies)."""
    base = tmp_path_factory.mktemp("third-party")
    sources = base / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("fixture_plugin", "broken_plugin"):
        shutil.copytree(HERE / name, sources / name, ignore=ignore)
    root = base / "venv"
    _ok(_run([sys.executable, "-m", "venv", str(root)], timeout=VENV_TIMEOUT), "python -m venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    _ok(
        _run(
            [
                str(root / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                str(REPO / "core"),
                str(REPO / "plugins" / "local"),
                str(sources / "fixture_plugin"),
                str(sources / "broken_plugin"),
                "pytest",
            ],
            timeout=PIP_TIMEOUT,
            env=env,
        ),
        "pip install into the fresh venv",
    )
    venv = Venv(root)
    venv.sources = sources
    return venv


def _plugin(report: dict, name: str) -> dict | None:
    return next((p for p in report["plugins"] if p["name"] == name), None)


def test_dpdisp_plugins_lists_the_third_party_batch_type(venv: Venv, tmp_path: Path) -> None:
    report = venv.plugins_json(tmp_path)
    echo = _plugin(report, "echo")
    assert echo is not None, report
    assert echo["distribution"] == "dpdispatcher-echo-scheduler"
    assert echo["version"] == "0.3.1"
    assert echo["machines"] == ["EchoScheduler"]
    assert echo["contexts"] == []
    assert {"register_machines", "job_script_env_lines"} <= set(echo["hooks"])
    local = _plugin(report, "local")
    assert local is not None and set(local["contexts"]) == {"LocalContext", "LazyLocalContext"}
    # the shell plugin was not installed: the core knows no batch type but the third party's
    assert [m for p in report["plugins"] for m in p["machines"]] == ["EchoScheduler"]

    table = _ok(venv.dpdisp("plugins", home=tmp_path), "dpdisp plugins").stdout
    assert "dpdispatcher-echo-scheduler" in table and "EchoScheduler" in table


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(venv: Venv, tmp_path: Path) -> None:
    report = venv.plugins_json(tmp_path)
    (error,) = report["load_errors"]
    assert error["name"] == "broken"
    assert error["distribution"] == "dpdispatcher-broken-plugin"
    assert "ImportError" in error["error"] and "no_such_scheduler_sdk" in error["error"]
    assert _plugin(report, "broken") is None
    assert _plugin(report, "echo") is not None and _plugin(report, "local") is not None

    result = _ok(venv.dpdisp("plugins", home=tmp_path), "dpdisp plugins")
    assert "FAILED TO LOAD: broken (dpdispatcher-broken-plugin): ImportError: " in result.stdout
    # one warning for the broken plugin (stevedore's own copy is suppressed), and nothing else
    assert result.stderr.splitlines() == [
        "WARNING dpdispatcher.plugins: plugin 'broken' (dpdispatcher-broken-plugin) failed to load: ImportError: "
        "dpd_broken_plugin needs the module 'no_such_scheduler_sdk', which is not installed"
    ]


def _write_submission(tmp_path: Path, n_tasks: int = 3) -> Path:
    work = tmp_path / "work"
    for i in range(n_tasks):
        (work / f"task {i}").mkdir(parents=True)
        (work / f"task {i}" / "in.txt").write_text(f"input {i}\n")
    spec = {
        "work_base": "work",
        "machine": {
            "batch_type": "EchoScheduler",
            "context_type": "LocalContext",
            "local_root": ".",
            "remote_root": str(tmp_path / "remote"),
        },
        "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 2},
        "task_list": [
            {
                "command": 'cat in.txt > out.txt && echo "ran by $ECHO_SCHEDULER_BATCH_TYPE" >> out.txt',
                "task_work_path": f"task {i}/",
                "forward_files": ["in.txt"],
                "backward_files": ["out.txt"],
            }
            for i in range(n_tasks)
        ],
    }
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


def test_a_submission_runs_to_the_end_on_the_third_party_batch_type(venv: Venv, tmp_path: Path) -> None:
    spec = _write_submission(tmp_path)
    result = _ok(
        venv.dpdisp("submit", str(spec), "--check-interval", "1", "--json", home=tmp_path / "home", cwd=tmp_path),
        "dpdisp submit",
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["jobs"] == "2 finished"
    for i in range(3):
        # the file came back, and the plugin's job_script_env_lines hook took part in the script
        assert (tmp_path / "work" / f"task {i}" / "out.txt").read_text() == f"input {i}\nran by EchoScheduler\n"
    assert not (tmp_path / "remote" / summary["submission_hash"]).exists()  # cleaned after the run


def test_disabling_third_party_plugins_hides_the_batch_type(venv: Venv, tmp_path: Path) -> None:
    report = venv.plugins_json(tmp_path, **{DISABLE_ENV: "1"})
    names = [p["name"] for p in report["plugins"]]
    assert "echo" not in names and "local" in names
    assert report["load_errors"] == []  # disabled plugins are not even imported
    assert {"name": "echo", "distribution": "dpdispatcher-echo-scheduler"} in report["disabled"]

    spec = _write_submission(tmp_path)
    result = venv.dpdisp("submit", str(spec), home=tmp_path / "home", cwd=tmp_path, **{DISABLE_ENV: "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "unknown batch type 'EchoScheduler'" in result.stderr
    # the user learns why: the variable is set and hid the two third-party plugins
    assert (
        f"{DISABLE_ENV} is set and hid 2 third-party plugins: broken (dpdispatcher-broken-plugin), "
        "echo (dpdispatcher-echo-scheduler); unset it to load them." in result.stderr
    )
    assert not (tmp_path / "remote").exists() or not any((tmp_path / "remote").iterdir())


def test_the_core_contract_suite_passes_for_the_third_party_plugin(venv: Venv, tmp_path: Path) -> None:
    result = _run(
        [str(venv.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        timeout=COMMAND_TIMEOUT,
        env=venv.env(tmp_path),
        cwd=venv.sources / "fixture_plugin",
    )
    _ok(result, "the MachineContract tests of the fixture plugin")
    last = result.stdout.strip().splitlines()[-1]
    assert " passed" in last and not any(word in last for word in ("failed", "error", "skipped", "xfail")), last
