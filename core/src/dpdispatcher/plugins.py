"""Finding plugins through entry points and keeping the name -> class registry.

Each distribution declares ``[project.entry-points.dpdispatcher] name = "module"``.
Every entry point is loaded on its own by stevedore: one that fails to import is
recorded in :attr:`PluginRegistry.load_errors` and reported by ``dpdisp plugins``,
and every other plugin keeps working.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy
from stevedore import NamedExtensionManager

from dpdispatcher import hookspecs
from dpdispatcher.errors import PluginConflictError, PluginNotFoundError

ENTRY_POINT_GROUP = "dpdispatcher"
DISABLE_THIRD_PARTY_ENV = "DPDISPATCHER_DISABLE_THIRD_PARTY_PLUGINS"

#: Distributions maintained in this repository; the only ones loaded when
#: third-party plugins are disabled.
FIRST_PARTY_DISTRIBUTIONS = frozenset(
    {
        "dpdispatcher-core",
        "dpdispatcher-shell",
        "dpdispatcher-local",
        "dpdispatcher-slurm",
        "dpdispatcher-ssh",
        "dpdispatcher-pbs",
        "dpdispatcher-lsf",
        "dpdispatcher-sge",
        "dpdispatcher-hdfs",
        "dpdispatcher-distributed-shell",
        "dpdispatcher-dpcloudserver",
    }
)

#: Which distribution to install for a well-known name (lower case, no suffix).
KNOWN_MACHINES = {
    "shell": "dpdispatcher-shell",
    "slurm": "dpdispatcher-slurm",
    "slurmjobarray": "dpdispatcher-slurm",
    "pbs": "dpdispatcher-pbs",
    "torque": "dpdispatcher-pbs",
    "lsf": "dpdispatcher-lsf",
    "sge": "dpdispatcher-sge",
    "distributedshell": "dpdispatcher-distributed-shell",
    "dpcloudserver": "dpdispatcher-dpcloudserver",
}
KNOWN_CONTEXTS = {
    "local": "dpdispatcher-local",
    "lazylocal": "dpdispatcher-local",
    "ssh": "dpdispatcher-ssh",
    "hdfs": "dpdispatcher-hdfs",
    "dpcloudserver": "dpdispatcher-dpcloudserver",
}

logger = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """What ``dpdisp plugins`` reports about one loaded entry point."""

    name: str
    distribution: str
    version: str
    machines: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class LoadError:
    name: str
    distribution: str
    error: str


@dataclass
class Registered:
    cls: type
    name: str
    plugin: str
    distribution: str


def context_key(name: str) -> str:
    """Normalise a context name: case-insensitive, ``Context`` suffix optional."""
    key = name.lower()
    return key[: -len("context")] if key.endswith("context") and key != "context" else key


def machine_key(name: str) -> str:
    return name.lower()


class _Table:
    """Name -> class table for one kind of plugin class (machines or contexts)."""

    def __init__(self, kind: str, key: Callable[[str], str], known: dict[str, str]):
        self.kind = kind
        self.key = key
        self.known = known
        self.entries: dict[str, Registered] = {}

    def add(self, entry: Registered) -> None:
        key = self.key(entry.name)
        old = self.entries.get(key)
        if old is not None and old.cls is not entry.cls:
            raise PluginConflictError(
                f"{self.kind} {entry.name!r} is provided by two plugins: "
                f"{old.distribution} (entry point {old.plugin!r}) and "
                f"{entry.distribution} (entry point {entry.plugin!r}); "
                f"uninstall one of them"
            )
        self.entries[key] = entry

    def get(self, name: str) -> type:
        entry = self.entries.get(self.key(name))
        if entry is not None:
            return entry.cls
        installed = ", ".join(sorted({e.name for e in self.entries.values()})) or "none"
        hint = ""
        dist = self.known.get(self.key(name))
        if dist:
            hint = f"; install {dist} (pip install {dist}) to use it"
        raise PluginNotFoundError(f"unknown {self.kind} {name!r}{hint}. Installed {self.kind}s: {installed}")

    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries.values()})


class PluginRegistry:
    """The plugin manager plus the machine and context tables built from it."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.machines = _Table("batch type", machine_key, KNOWN_MACHINES)
        self.contexts = _Table("context type", context_key, KNOWN_CONTEXTS)
        self.plugins: list[PluginInfo] = []
        self.load_errors: list[LoadError] = []

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def add_plugin(self, module: object, name: str, distribution: str = "", version: str = "") -> PluginInfo:
        """Register one plugin object and collect the classes it provides."""
        self.pm.register(module, name=name)
        info = PluginInfo(name=name, distribution=distribution or name, version=version)
        try:
            self._collect(module, info)
        except Exception:
            self.pm.unregister(module)
            raise
        info.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        self.plugins.append(info)
        return info

    def _collect(self, module: object, info: PluginInfo) -> None:
        def registrar(table: _Table, provided: list[str]) -> Callable[..., None]:
            def register(cls: type, name: str | None = None) -> None:
                entry_name = name or cls.__name__
                table.add(Registered(cls, entry_name, info.name, info.distribution))
                provided.append(entry_name)

            return register

        caller = self.pm.subset_hook_caller
        others = [p for p in self.pm.get_plugins() if p is not module]
        caller("register_machines", others)(register=registrar(self.machines, info.machines))
        caller("register_contexts", others)(register=registrar(self.contexts, info.contexts))

    def load_entry_points(self) -> None:
        """Load every installed plugin, each in isolation."""
        only_first_party = os.environ.get(DISABLE_THIRD_PARTY_ENV, "").lower() not in ("", "0", "false", "no")

        distributions = _entry_point_distributions()

        def _dist_name(entry_point: Any) -> str:
            dist = distributions.get((entry_point.name, entry_point.value))
            return dist.metadata["Name"] if dist is not None else "unknown"

        def _dist_version(entry_point: Any) -> str:
            dist = distributions.get((entry_point.name, entry_point.value))
            return dist.version if dist is not None else ""

        def on_failure(_manager: Any, entry_point: Any, err: BaseException) -> None:
            self.load_errors.append(
                LoadError(entry_point.name, _dist_name(entry_point), f"{type(err).__name__}: {err}")
            )
            logger.warning("plugin %r failed to load: %s", entry_point.name, err)

        # filtered before import: a disabled third-party plugin is never imported
        wanted = sorted(
            name
            for (name, _value), dist in distributions.items()
            if not only_first_party or dist.metadata["Name"] in FIRST_PARTY_DISTRIBUTIONS
        )
        manager = NamedExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            names=wanted,
            name_order=True,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        for ext in manager.extensions:
            dist = _dist_name(ext.entry_point)
            try:
                self.add_plugin(ext.plugin, ext.name, dist, _dist_version(ext.entry_point))
            except PluginConflictError:
                raise
            except Exception as err:  # a plugin whose hooks crash is reported, not fatal
                self.load_errors.append(LoadError(ext.name, dist, f"{type(err).__name__}: {err}"))

    def machine_class(self, name: str) -> type:
        return self.machines.get(name)

    def context_class(self, name: str) -> type:
        return self.contexts.get(name)


def _entry_point_distributions() -> dict[tuple[str, str], Any]:
    """(name, value) of each entry point in our group -> the distribution declaring it.

    stevedore's cached entry points do not carry their distribution, so it is looked up here.
    """
    from importlib.metadata import distributions

    found = {}
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found[(ep.name, ep.value)] = dist
    return found


_registry: PluginRegistry | None = None


def get_registry() -> PluginRegistry:
    """The process-wide registry, loaded from entry points on first use."""
    global _registry
    if _registry is None:
        registry = PluginRegistry()
        registry.load_entry_points()
        _registry = registry
    return _registry


def hook() -> Any:
    """Shortcut for ``get_registry().hook``: call phase hooks with it."""
    return get_registry().hook
