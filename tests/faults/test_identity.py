"""A change of the environment between a run and its re-run: a plugin installed in between.

Installing a plugin must not change a submission's identity (its hash, its jobs' hashes): the
re-run must find the record and the jobs of the first run, and submit nothing again.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from faults_kit import Workload, build_submission, check

from dpdispatcher import hookimpl, plugins
from dpdispatcher.plugins import PluginRegistry
from dpdispatcher_shell import Shell

pytestmark = pytest.mark.faults


class AaaShell(Shell):
    """A third-party batch type whose name sorts before every shipped one."""


def install_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def register_machines(register):  # type: ignore[no-untyped-def]
        register(AaaShell)

    module = types.ModuleType("aaa_shell")
    module.register_machines = register_machines  # type: ignore[attr-defined]
    registry = PluginRegistry()
    registry.load_entry_points()
    registry.add_plugin(module, "aaa-shell", "dpdispatcher-aaa-shell", "1.0")
    monkeypatch.setattr(plugins, "_registry", registry)


def test_a_plugin_installed_between_two_runs_does_not_make_the_rerun_submit_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = Workload.with_machine(tmp_path).prepare()
    monkeypatch.setenv("DPDISPATCHER_HOME", str(workload.home))
    build_submission(workload.spec()).run_submission(exit_on_submit=True)  # the driver leaves, the jobs run on
    install_plugin(monkeypatch)
    build_submission(workload.spec()).run_submission(check_interval=0.5)
    verdict = check(workload)
    assert verdict.ok, "\n".join(verdict.problems)
