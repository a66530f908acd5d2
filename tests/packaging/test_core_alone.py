"""dpdispatcher-core installed alone, without any plugin (``tox -e core-alone``).

The core must import, run ``dpdisp``, list no plugin, and turn a submission that names a
batch type of this repository into an error that says which distribution to install.

Wherever plugins are installed (the ``py`` environment, a developer's checkout) this module
skips itself. The ``core-alone`` environment sets ``DPDISPATCHER_CORE_ALONE=1``: there a plugin
that should not be installed fails the module instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytestmark = pytest.mark.core_alone

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "getting-started" / "submission.json"


def _installed_plugins() -> list[str]:
    """Names of the entry points in the ``dpdispatcher`` group of this interpreter."""
    found = entry_points()
    # Python 3.10+ selects; 3.9 returns a dict of group -> entry points
    group = found.select(group="dpdispatcher") if hasattr(found, "select") else found.get("dpdispatcher", [])
    return sorted(ep.name for ep in group)


PLUGINS = _installed_plugins()
if PLUGINS and not os.environ.get("DPDISPATCHER_CORE_ALONE"):
    pytest.skip(
        f"plugins are installed ({', '.join(PLUGINS)}); `tox -e core-alone` runs these checks without them",
        allow_module_level=True,
    )


def dpdisp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``dpdisp`` console script that this environment's install of the core put next to python."""
    script = Path(sysconfig.get_path("scripts")) / "dpdisp"
    assert script.exists(), f"installing dpdispatcher-core did not create the dpdisp command ({script})"
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_no_plugin_is_installed() -> None:
    assert PLUGINS == [], f"this environment should hold the core alone, but has the plugins {PLUGINS}"


def test_the_core_imports_with_its_contract_tests() -> None:
    import dpdispatcher
    import dpdispatcher.testing  # the [testing] extra is enough for the contract suites

    assert dpdispatcher.__version__
    assert {"Machine", "Resources", "Task", "Submission"} <= set(dir(dpdispatcher))


def test_dpdisp_plugins_lists_nothing(tmp_path: Path) -> None:
    table = dpdisp("plugins", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "no plugins installed" in table.stdout
    assert "FAILED TO LOAD" not in table.stdout

    report = dpdisp("plugins", "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout) == {"plugins": [], "load_errors": [], "conflicts": [], "disabled": []}


@pytest.mark.parametrize("what", ["machine", "resources", "task"])
def test_dpdisp_doc_works_without_plugins(tmp_path: Path, what: str) -> None:
    doc = dpdisp("doc", what, cwd=tmp_path)
    assert doc.returncode == 0, doc.stderr
    assert "Traceback" not in doc.stderr


def test_submitting_to_shell_says_what_to_install(tmp_path: Path) -> None:
    # the README's getting-started submission: batch_type Shell, context_type LocalContext
    submission = json.loads(EXAMPLE.read_text())
    assert (submission["machine"]["batch_type"], submission["machine"]["context_type"]) == ("Shell", "LocalContext")
    shutil.copy(EXAMPLE, tmp_path / "submission.json")

    result = dpdisp("submit", "submission.json", cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "install dpdispatcher-shell" in result.stderr
    assert "pip install ./plugins/shell" in result.stderr
    assert result.stderr.startswith("dpdisp: error: "), result.stderr
    assert not (tmp_path / "work").exists(), "nothing may be created before the machine is known"
