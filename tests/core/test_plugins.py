"""The plugin system: registration, load errors, conflicts, hints, hook order, and every phase hook at its phase."""

from __future__ import annotations

import abc
import importlib.metadata
import json
import logging
import re
import sys
import types
from pathlib import Path

import pytest
from helpers import copy_submission, local_machine
from stevedore import ExtensionManager

from dpdispatcher import JobStatus, Machine, hookimpl, plugins
from dpdispatcher.cli import main
from dpdispatcher.errors import PluginConflictError, PluginLoadError, PluginNotFoundError
from dpdispatcher.plugins import (
    DISABLE_THIRD_PARTY_ENV,
    ENTRY_POINT_GROUP,
    FIRST_PARTY_DISTRIBUTIONS,
    SHIPPED,
    PluginRegistry,
    get_registry,
)
from dpdispatcher_local import LocalContext
from dpdispatcher_shell import Shell

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """A plugin implementing every phase hook, recording what it saw."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def job_script_env_lines(self, machine, job):
        self.calls.append("script")
        return ["export RECORDER_WAS_HERE=1"]

    @hookimpl
    def job_submitted(self, machine, job, job_id):
        self.calls.append(("submitted", job_id))

    @hookimpl
    def job_state_changed(self, job, old_state, new_state):
        self.calls.append(("state", old_state, new_state))

    @hookimpl
    def files_uploaded(self, context, submission, files):
        self.calls.append(("uploaded", sorted(files)))

    @hookimpl
    def files_downloaded(self, context, submission, files):
        self.calls.append(("downloaded", sorted(files)))


@pytest.fixture
def recorder():
    plugin = Recorder()
    registry = get_registry()
    registry.pm.register(plugin, name="recorder")
    yield plugin
    registry.pm.unregister(plugin)


def plugin_module(name, *hooks):
    """A plugin module whose attributes are the given hook implementations."""
    module = types.ModuleType(name)
    for function in hooks:
        setattr(module, function.__name__, function)
    return module


def providing(machines=(), contexts=()):
    """A plugin module registering the given classes, each under its class name."""
    hooks = []
    if machines:

        @hookimpl
        def register_machines(register):
            for cls in machines:
                register(cls)

        hooks.append(register_machines)
    if contexts:

        @hookimpl
        def register_contexts(register):
            for cls in contexts:
                register(cls)

        hooks.append(register_contexts)
    return plugin_module("providing", *hooks)


def env_lines_plugin(line, **options):
    @hookimpl(**options)
    def job_script_env_lines(machine, job):
        return [line]

    return plugin_module("lines", job_script_env_lines)


@hookimpl
def register_machine(register):  # misspelt: the hook is register_machines
    register(Shell)


class HalfScheduler(Machine, metaclass=abc.ABCMeta):
    """A batch type that forgot two of the methods every batch type implements."""

    def gen_script_header(self, job):
        return self.shebang

    def submit_jobs(self, jobs):
        return []

    @abc.abstractmethod
    def check_statuses(self, jobs): ...

    @abc.abstractmethod
    def kill_jobs(self, jobs): ...


class NotAContext:
    pass


@pytest.fixture
def entry_points(monkeypatch):
    """Fake installed entry points beside the real ones.

    ``add(name, distribution, module)`` declares entry point ``name`` of ``distribution``;
    with ``module=None`` importing it fails, as when a dependency is missing.
    """
    monkeypatch.delenv(DISABLE_THIRD_PARTY_ENV, raising=False)
    dists = plugins._entry_point_distributions()
    listed = [importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in dists]
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {ENTRY_POINT_GROUP: listed})
    monkeypatch.setattr(plugins, "_entry_point_distributions", lambda: dists)

    def add(name, distribution, module=None):
        value = f"dpd_test_plugin_{name}"
        if module is not None:
            monkeypatch.setitem(sys.modules, value, module)
        listed.append(importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP))
        dists[(name, value)] = types.SimpleNamespace(metadata={"Name": distribution}, version="1.0")

    return add


def loaded(monkeypatch=None):
    """A registry loaded from the (faked) entry points; with monkeypatch, also the process-wide one."""
    registry = PluginRegistry()
    registry.load_entry_points()
    if monkeypatch is not None:
        monkeypatch.setattr(plugins, "_registry", registry)
    return registry


def fast_plugins(entry_points):
    """Two plugins both providing 'FastContext', each with one batch type of its own."""
    first = type("FastContext", (LocalContext,), {})
    second = type("FastContext", (LocalContext,), {})
    entry_points("fast", "dpdispatcher-fast", providing([type("FastShell", (Shell,), {})], [first]))
    entry_points("faster", "dpdispatcher-faster", providing([type("FasterShell", (Shell,), {})], [second]))


FAST_CONFLICT = (
    "context type 'FastContext' is provided by two plugins: dpdispatcher-fast (entry point 'fast') and "
    "dpdispatcher-faster (entry point 'faster'); uninstall one of them "
    "(pip uninstall dpdispatcher-fast or pip uninstall dpdispatcher-faster) to use it"
)


def test_every_phase_hook_is_called(tmp_path, recorder):
    machine = local_machine(tmp_path)
    submission = copy_submission(
        machine, n=2, group_size=2, command='test "$RECORDER_WAS_HERE" = 1 && cp in.txt out.txt'
    )
    submission.run_submission()
    job_id = submission.belonging_jobs[0].job_id
    assert "script" in recorder.calls
    assert ("uploaded", ["t0/in.txt", "t1/in.txt"]) in recorder.calls
    assert ("submitted", job_id) in recorder.calls
    assert any(c[0] == "state" and c[2] == JobStatus.finished for c in recorder.calls if isinstance(c, tuple))
    assert ("downloaded", ["t0/out.txt", "t1/out.txt"]) in recorder.calls
    assert (tmp_path / "local" / "wb" / "t1" / "out.txt").exists()  # the env line reached the script


def test_registration_hooks_fill_the_tables():
    registry = PluginRegistry()
    alpha = type("Alpha", (Shell,), {})

    @hookimpl
    def register_machines(register):
        register(alpha)
        register(alpha, name="AlphaAlias")

    info = registry.add_plugin(plugin_module("alpha_plugin", register_machines), "alpha", "dpdispatcher-alpha", "1.0")
    assert info.machines == ["Alpha", "AlphaAlias"] and info.hooks == ["register_machines"]
    assert registry.machine_class("alpha") is alpha and registry.machine_class("ALPHAALIAS") is alpha


def test_a_misspelt_hook_is_a_load_error_and_the_rest_work(entry_points):
    entry_points("misspelt", "dpdispatcher-misspelt", plugin_module("misspelt", register_machine))
    registry = loaded()
    (error,) = [e for e in registry.load_errors if e.name == "misspelt"]
    assert error.distribution == "dpdispatcher-misspelt"
    assert error.error == (
        "implements unknown hook 'register_machine' (did you mean 'register_machines'?); "
        "the hooks are listed in dpdispatcher.hookspecs"
    )
    assert "misspelt" not in {p.name for p in registry.plugins}
    assert registry.pm.get_plugin("misspelt") is None  # unregistered: none of its hooks is ever called
    assert registry.machine_class("shell") is Shell


def test_a_hook_with_other_parameters_is_a_one_line_load_error():
    @hookimpl
    def register_machines(registrar):
        registrar(Shell)

    with pytest.raises(PluginLoadError) as err:
        PluginRegistry().add_plugin(plugin_module("m", register_machines), "wrong", "dist-wrong")
    assert str(err.value) == (
        "plugin 'wrong' (dist-wrong): Plugin 'wrong' for hook 'register_machines'; "
        "hookimpl definition: register_machines(registrar); "
        "Argument(s) {'registrar'} are declared in the hookimpl but can not be found in the hookspec"
    )


def test_an_abstract_or_foreign_class_fails_when_registered():
    registry = PluginRegistry()
    with pytest.raises(PluginLoadError) as err:
        registry.add_plugin(providing([Shell, HalfScheduler]), "x", "dist-x")
    assert (
        str(err.value) == "plugin 'x' (dist-x): batch type HalfScheduler does not implement check_statuses, kill_jobs"
    )
    with pytest.raises(PluginLoadError) as err:
        registry.add_plugin(providing(contexts=[NotAContext]), "y", "dist-y")
    assert str(err.value) == (
        "plugin 'y' (dist-y): context type NotAContext is not a subclass of dpdispatcher.base_context.BaseContext"
    )
    with pytest.raises(PluginLoadError) as err:
        registry.add_plugin(providing([LocalContext]), "z", "dist-z")
    assert (
        str(err.value)
        == "plugin 'z' (dist-z): batch type LocalContext is not a subclass of dpdispatcher.machine.Machine"
    )
    # nothing of a rejected plugin stays, not even the valid Shell registered before HalfScheduler
    assert registry.machines.entries == {} and registry.pm.get_plugins() == set() and registry.plugins == []


def test_a_name_two_plugins_claim_is_unusable_and_nothing_else(entry_points, monkeypatch, tmp_path):
    fast_plugins(entry_points)
    registry = loaded(monkeypatch)
    with pytest.raises(PluginConflictError) as err:
        registry.context_class("fast")
    assert str(err.value) == FAST_CONFLICT
    (conflict,) = registry.conflicts
    assert conflict.claimed_by == [
        {"name": "fast", "distribution": "dpdispatcher-fast"},
        {"name": "faster", "distribution": "dpdispatcher-faster"},
    ]
    assert "FastContext" not in registry.contexts.names()
    # both plugins loaded and keep their other names; so does every other plugin
    assert registry.machine_class("fastshell").__name__ == "FastShell"
    assert registry.machine_class("FasterShell").__name__ == "FasterShell"
    assert not [e for e in registry.load_errors if e.name in ("fast", "faster")]
    submission = copy_submission(local_machine(tmp_path), n=2)
    submission.run_submission()
    assert (tmp_path / "local" / "wb" / "t1" / "out.txt").read_text() == "1\n"


def test_dpdisp_plugins_lists_load_errors_and_conflicts(entry_points, monkeypatch, capsys):
    entry_points("misspelt", "dpdispatcher-misspelt", plugin_module("misspelt", register_machine))
    entry_points("half", "dpdispatcher-half", providing([HalfScheduler]))
    entry_points("missing", "dpdispatcher-missing")
    fast_plugins(entry_points)
    loaded(monkeypatch)
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert (
        "FAILED TO LOAD: misspelt (dpdispatcher-misspelt): implements unknown hook 'register_machine' "
        "(did you mean 'register_machines'?); the hooks are listed in dpdispatcher.hookspecs"
    ) in table
    assert (
        "FAILED TO LOAD: half (dpdispatcher-half): batch type HalfScheduler does not implement check_statuses, kill_jobs"
        in table
    )
    assert (
        "FAILED TO LOAD: missing (dpdispatcher-missing): ModuleNotFoundError: No module named 'dpd_test_plugin_missing'"
    ) in table
    assert f"CONFLICT: {FAST_CONFLICT}" in table
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    errors = {e["name"]: e for e in report["load_errors"]}
    assert {"misspelt", "half", "missing"} <= set(errors)
    assert errors["half"]["distribution"] == "dpdispatcher-half"
    assert report["conflicts"] == [
        {
            "kind": "context type",
            "name": "FastContext",
            "claimed_by": [
                {"name": "fast", "distribution": "dpdispatcher-fast"},
                {"name": "faster", "distribution": "dpdispatcher-faster"},
            ],
            "error": FAST_CONFLICT,
        }
    ]


def test_one_warning_per_broken_plugin(entry_points, caplog):
    entry_points("misspelt", "dpdispatcher-misspelt", plugin_module("misspelt", register_machine))
    entry_points("half", "dpdispatcher-half", providing([HalfScheduler]))
    entry_points("missing", "dpdispatcher-missing")
    caplog.set_level(logging.WARNING)
    loaded()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in warnings if r.name.startswith("stevedore")], [r.getMessage() for r in warnings]
    for name in ("misspelt", "half", "missing"):
        (line,) = [r.getMessage() for r in warnings if f"'{name}'" in r.getMessage()]
        assert line.startswith(f"plugin '{name}' (dpdispatcher-{name}) failed to load: ")
    assert "plugin 'missing' (dpdispatcher-missing) failed to load: ModuleNotFoundError: No module named" in str(
        [r.getMessage() for r in warnings]
    )


def test_an_unknown_name_says_the_variable_hid_third_party_plugins(entry_points, monkeypatch):
    entry_points("echo", "dpdispatcher-echo-scheduler")  # would fail to import: proves it is not imported
    monkeypatch.setenv(DISABLE_THIRD_PARTY_ENV, "1")
    registry = loaded()
    assert registry.load_errors == [] and [(d.name, d.distribution) for d in registry.disabled] == [
        ("echo", "dpdispatcher-echo-scheduler")
    ]
    with pytest.raises(PluginNotFoundError) as err:
        registry.machine_class("EchoScheduler")
    assert str(err.value) == (
        f"unknown batch type 'EchoScheduler'. Installed batch types: {', '.join(registry.machines.names())}. "
        "DPDISPATCHER_DISABLE_THIRD_PARTY_PLUGINS is set and hid 1 third-party plugin: "
        "echo (dpdispatcher-echo-scheduler); unset it to load it."
    )
    assert registry.machine_class("shell") is Shell  # first-party plugins still load


def test_an_install_hint_names_a_shipped_distribution_and_its_checkout_folder():
    registry = PluginRegistry()  # nothing installed
    with pytest.raises(PluginNotFoundError) as err:
        registry.machine_class("slurmjobarray")
    assert str(err.value) == (
        "unknown batch type 'slurmjobarray'; install dpdispatcher-slurm (pip install dpdispatcher-slurm, "
        "or from a checkout: pip install ./plugins/slurm) to use it. Installed batch types: none."
    )
    with pytest.raises(PluginNotFoundError) as err:
        registry.context_class("SSH")
    assert (
        "install dpdispatcher-ssh (pip install dpdispatcher-ssh, or from a checkout: pip install ./plugins/ssh)"
        in str(err.value)
    )
    with pytest.raises(PluginNotFoundError) as err:  # a name nothing ships: no hint to install anything
        registry.machine_class("Condor")
    assert str(err.value) == "unknown batch type 'Condor'. Installed batch types: none."


def test_the_shipped_table_is_what_the_checkout_holds():
    folders = {"core"} | {f"plugins/{p.name}" for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    assert {s.folder for s in SHIPPED} == folders
    for shipped in SHIPPED:
        pyproject = (REPO / shipped.folder / "pyproject.toml").read_text()
        assert re.search(r'^name = "([^"]+)"', pyproject, re.M)[1] == shipped.distribution
    assert {s.distribution for s in SHIPPED} == FIRST_PARTY_DISTRIBUTIONS
    installed = {p.distribution: p for p in get_registry().plugins}
    for shipped in SHIPPED:
        if shipped.distribution in installed:  # the names in the table are the names the plugin registers
            info = installed[shipped.distribution]
            assert (sorted(info.machines), sorted(info.contexts)) == (
                sorted(shipped.machines),
                sorted(shipped.contexts),
            )


def test_env_lines_come_last_registered_first(entry_points, monkeypatch, tmp_path):
    """Entry points register in name order and pluggy calls the last registered first (tryfirst before all)."""
    entry_points("alpha", "dist-alpha", env_lines_plugin("export FROM_ALPHA=1"))
    entry_points("zeta", "dist-zeta", env_lines_plugin("export FROM_ZETA=1"))
    entry_points("beta", "dist-beta", env_lines_plugin("export FROM_BETA_TRYFIRST=1", tryfirst=True))
    entry_points("gamma", "dist-gamma", env_lines_plugin("export FROM_GAMMA_TRYLAST=1", trylast=True))
    registry = loaded(monkeypatch)
    order = ["export FROM_BETA_TRYFIRST=1", "export FROM_ZETA=1", "export FROM_ALPHA=1", "export FROM_GAMMA_TRYLAST=1"]
    assert registry.hook.job_script_env_lines(machine=None, job=None) == [[line] for line in order]
    assert registry.env_lines(None, None) == order
    # and that is the order of the lines in a job script
    submission = copy_submission(local_machine(tmp_path), n=1)
    submission.generate_jobs()
    script = submission.machine.gen_script(submission.belonging_jobs[0])
    assert [line for line in script.splitlines() if line.startswith("export FROM_")] == order


def test_installed_plugins_are_found_through_entry_points():
    registry = get_registry()
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["shell"].distribution == "dpdispatcher-shell" and by_name["shell"].machines == ["Shell"]
    assert by_name["local"].contexts == ["LocalContext", "LazyLocalContext"]
    assert not [e for e in registry.load_errors if e.name in ("shell", "local")]
