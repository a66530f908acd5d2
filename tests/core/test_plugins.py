"""The plugin system: registration, conflicts, and every phase hook called at its phase."""

from __future__ import annotations

import types

import pytest
from helpers import copy_submission, local_machine

from dpdispatcher import JobStatus, hookimpl
from dpdispatcher.errors import PluginConflictError
from dpdispatcher.plugins import PluginRegistry, get_registry


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

    class Alpha:
        pass

    @hookimpl
    def register_machines(register):
        register(Alpha)
        register(Alpha, name="AlphaAlias")

    plugin = types.ModuleType("alpha_plugin")
    plugin.register_machines = register_machines
    info = registry.add_plugin(plugin, "alpha", "dpdispatcher-alpha", "1.0")
    assert info.machines == ["Alpha", "AlphaAlias"] and info.hooks == ["register_machines"]
    assert registry.machine_class("alpha") is Alpha and registry.machine_class("ALPHAALIAS") is Alpha


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    registry = PluginRegistry()

    def plugin_providing(cls):
        @hookimpl
        def register_contexts(register):
            register(cls)

        module = types.ModuleType(f"plugin_{id(cls)}")
        module.register_contexts = register_contexts
        return module

    first = type("FastContext", (), {})
    second = type("FastContext", (), {})
    registry.add_plugin(plugin_providing(first), "fast", "dpdispatcher-fast", "1")
    with pytest.raises(PluginConflictError) as err:
        registry.add_plugin(plugin_providing(second), "faster", "dpdispatcher-faster", "2")
    assert "dpdispatcher-fast " in str(err.value) and "dpdispatcher-faster" in str(err.value)
    assert registry.context_class("fast") is first


def test_installed_plugins_are_found_through_entry_points():
    registry = get_registry()
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["shell"].distribution == "dpdispatcher-shell" and by_name["shell"].machines == ["Shell"]
    assert by_name["local"].contexts == ["LocalContext", "LazyLocalContext"]
    assert not [e for e in registry.load_errors if e.name in ("shell", "local")]
