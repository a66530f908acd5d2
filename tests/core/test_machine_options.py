"""A batch type can declare machine-level arguments: validated, documented, given to the machine."""

from __future__ import annotations

import types

import pytest
from dargs import Argument

from dpdispatcher import Machine, hookimpl, plugins
from dpdispatcher.cli import main
from dpdispatcher.errors import ConfigError
from dpdispatcher.plugins import PluginRegistry
from dpdispatcher_shell import Shell


class ServerShell(Shell):
    """A Shell that names a server, as a PBS plugin names its PBS server."""

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        return [Argument("server_name", str, optional=True, default="", doc="The scheduler server to submit to.")]


@pytest.fixture(autouse=True)
def server_shell_installed(monkeypatch):
    @hookimpl
    def register_machines(register):
        register(ServerShell)

    module = types.ModuleType("server_shell")
    module.register_machines = register_machines
    registry = PluginRegistry()
    registry.load_entry_points()
    registry.add_plugin(module, "server-shell", "dpdispatcher-server-shell", "1.0")
    monkeypatch.setattr(plugins, "_registry", registry)


def machine_dict(tmp_path, **extra):
    return {"context_type": "LocalContext", "local_root": str(tmp_path), "remote_root": str(tmp_path), **extra}


def test_declared_arguments_reach_the_machine_and_its_record(tmp_path):
    machine = Machine.load_from_dict(machine_dict(tmp_path, batch_type="ServerShell", server_name="pbs01"))
    assert machine.options == {"server_name": "pbs01"}
    assert machine.serialize()["server_name"] == "pbs01"
    assert Machine.load_from_dict(machine_dict(tmp_path, batch_type="ServerShell")).options == {"server_name": ""}


def test_a_wrong_value_names_the_argument_path(tmp_path):
    with pytest.raises(ConfigError, match="machine/server_name"):
        Machine.load_from_dict(machine_dict(tmp_path, batch_type="ServerShell", server_name=3))


def test_another_batch_type_does_not_accept_it(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("DPDISPATCHER_STRICT", raising=False)
    assert Machine.load_from_dict(machine_dict(tmp_path, batch_type="Shell", server_name="pbs01")).options == {}
    assert "machine/server_name: unknown key" in caplog.text
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError, match="server_name"):
        Machine.load_from_dict(machine_dict(tmp_path, batch_type="Shell", server_name="pbs01"))


def test_dpdisp_doc_machine_shows_it(capsys):
    assert main(["doc", "machine"]) == 0
    out = capsys.readouterr().out
    assert "machine[batch_type=ServerShell]/server_name" in out
    assert "The scheduler server to submit to." in out
