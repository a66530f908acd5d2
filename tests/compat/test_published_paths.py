"""The published package's module paths keep working, served from the installed plugins."""

from __future__ import annotations

import importlib

import pytest

from dpdispatcher import plugins
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.plugins import get_registry

PATHS = [
    ("dpdispatcher.machines.slurm", "Slurm"),
    ("dpdispatcher.machines.slurm", "SlurmJobArray"),
    ("dpdispatcher.machines.pbs", "PBS"),
    ("dpdispatcher.machines.pbs", "Torque"),
    ("dpdispatcher.machines.pbs", "SGE"),
    ("dpdispatcher.machines.lsf", "LSF"),
    ("dpdispatcher.machines.shell", "Shell"),
    ("dpdispatcher.machines.fugaku", "Fugaku"),
    ("dpdispatcher.machines.JH_UniScheduler", "JH_UniScheduler"),
    ("dpdispatcher.contexts.ssh_context", "SSHContext"),
    ("dpdispatcher.contexts.local_context", "LocalContext"),
    ("dpdispatcher.contexts.lazy_local_context", "LazyLocalContext"),
]


@pytest.mark.parametrize(("module", "name"), PATHS)
def test_a_published_path_gives_the_installed_plugins_class(module, name):
    cls = getattr(importlib.import_module(module), name)
    registry = get_registry()
    assert cls is (registry.machines.get(name) if name in registry.machines.names() else registry.context_class(name))


def test_job_status_keeps_its_published_path():
    from dpdispatcher.utils.job_status import JobStatus as Published

    assert Published is JobStatus


def test_a_backend_that_is_not_installed_is_an_import_error_naming_it(monkeypatch):
    monkeypatch.setattr(plugins, "_registry", plugins.PluginRegistry())  # a registry with no plugin installed
    with pytest.raises(
        ImportError,
        match=r"cannot import name 'DistributedShell'.*unknown batch type 'DistributedShell'; install dpdispatcher-hadoop",
    ):
        from dpdispatcher.machines.distributed_shell import DistributedShell  # noqa: F401
    with pytest.raises(AttributeError):
        importlib.import_module("dpdispatcher.machines.slurm").NotAScheduler  # noqa: B018
