"""Finding plugins through entry points and keeping the name -> class registry.

Each distribution declares ``[project.entry-points.dpdispatcher] name = "module"``.
Every entry point is loaded on its own by stevedore and registered with pluggy in
the order of the entry point names. A plugin that fails to import, implements a
hook that does not exist (a misspelt name) or registers a class that is not a
concrete Machine / BaseContext subclass is recorded in
:attr:`PluginRegistry.load_errors`, logged once and reported by ``dpdisp plugins``;
every other plugin keeps working. A name claimed by two plugins is recorded in
:attr:`PluginRegistry.conflicts` and only that name becomes unusable.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, cast

import pluggy
from stevedore import NamedExtensionManager

from dpdispatcher import hookspecs
from dpdispatcher.errors import PluginConflictError, PluginLoadError, PluginNotFoundError

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext
    from dpdispatcher.job import Job
    from dpdispatcher.machine import Machine

ENTRY_POINT_GROUP = "dpdispatcher"
DISABLE_THIRD_PARTY_ENV = "DPDISPATCHER_DISABLE_THIRD_PARTY_PLUGINS"


@dataclass(frozen=True)
class Shipped:
    """A distribution this repository ships: its folder in a checkout and the names it provides."""

    distribution: str
    folder: str
    machines: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()


#: Every distribution in this repository, and nothing else: the single source of the
#: install hints and of FIRST_PARTY_DISTRIBUTIONS. Adding a ``plugins/<name>`` folder
#: adds its row here (tests/core/test_plugins.py checks the table against the checkout).
SHIPPED = (
    Shipped("dpdispatcher-core", "core"),
    Shipped("dpdispatcher-shell", "plugins/shell", machines=("Shell",)),
    Shipped("dpdispatcher-local", "plugins/local", contexts=("LocalContext", "LazyLocalContext")),
    Shipped("dpdispatcher-slurm", "plugins/slurm", machines=("Slurm", "SlurmJobArray")),
    Shipped("dpdispatcher-ssh", "plugins/ssh", contexts=("SSHContext",)),
    Shipped("dpdispatcher-pbs", "plugins/pbs", machines=("PBS", "PBSJobArray", "Torque")),
    Shipped("dpdispatcher-sge", "plugins/sge", machines=("SGE", "SGEJobArray")),
    Shipped("dpdispatcher-lsf", "plugins/lsf", machines=("LSF", "LSFJobArray")),
    Shipped("dpdispatcher-fugaku", "plugins/fugaku", machines=("Fugaku",)),
    Shipped("dpdispatcher-jh-unischeduler", "plugins/jh_unischeduler", machines=("JH_UniScheduler",)),
    Shipped("dpdispatcher-hadoop", "plugins/hadoop", machines=("DistributedShell",), contexts=("HDFSContext",)),
    Shipped(
        "dpdispatcher-dpcloudserver",
        "plugins/dpcloudserver",
        machines=("DpCloudServer", "Bohrium", "Lebesgue"),
        contexts=("DpCloudServerContext", "BohriumContext", "LebesgueContext"),
    ),
)

#: The only distributions loaded when third-party plugins are disabled.
FIRST_PARTY_DISTRIBUTIONS = frozenset(s.distribution for s in SHIPPED)

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
class Conflict:
    """A name claimed by several plugins: unusable until all but one are uninstalled."""

    kind: str
    name: str
    claimed_by: list[dict[str, str]]
    error: str


@dataclass
class Disabled:
    """A third-party entry point not loaded because DISABLE_THIRD_PARTY_ENV is set."""

    name: str
    distribution: str


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


def _machine_base() -> type:
    from dpdispatcher.machine import Machine  # machine.py imports this module

    return Machine


def _context_base() -> type:
    from dpdispatcher.base_context import BaseContext

    return BaseContext


class _Table:
    """Name -> class table for one kind of plugin class (machines or contexts)."""

    def __init__(self, kind: str, key: Callable[[str], str], base: Callable[[], type], shipped: str) -> None:
        self.kind = kind
        self.key = key
        self.base = base
        self.hints = {key(name): s for s in SHIPPED for name in getattr(s, shipped)}
        self.entries: dict[str, Registered] = {}
        self.conflicts: dict[str, list[Registered]] = {}
        #: appended to "unknown name" errors (set when third-party plugins are disabled)
        self.note = ""

    def check(self, cls: Any) -> str | None:
        """Why ``cls`` cannot be registered here, or None."""
        base = self.base()
        if not isinstance(cls, type) or not issubclass(cls, base):
            return (
                f"{self.kind} {getattr(cls, '__name__', cls)!s} is not a subclass of {base.__module__}.{base.__name__}"
            )
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            return f"{self.kind} {cls.__name__} does not implement {missing}"
        return None

    def add(self, entry: Registered) -> None:
        key = self.key(entry.name)
        claims = self.conflicts.get(key)
        if claims is not None:
            if all(c.cls is not entry.cls for c in claims):
                claims.append(entry)
            return
        old = self.entries.get(key)
        if old is None:
            self.entries[key] = entry
        elif old.cls is not entry.cls:
            del self.entries[key]
            self.conflicts[key] = [old, entry]

    def conflict_message(self, key: str) -> str:
        claims = self.conflicts[key]
        who = [f"{c.distribution} (entry point {c.plugin!r})" for c in claims]
        uninstall = " or ".join(f"pip uninstall {d}" for d in dict.fromkeys(c.distribution for c in claims))
        two = len(claims) == 2
        return (
            f"{self.kind} {claims[0].name!r} is provided by {'two' if two else len(claims)} plugins: "
            f"{', '.join(who[:-1])} and {who[-1]}; "
            f"uninstall {'one' if two else 'all but one'} of them ({uninstall}) to use it"
        )

    def get(self, name: str) -> type:
        key = self.key(name)
        entry = self.entries.get(key)
        if entry is not None:
            return entry.cls
        if key in self.conflicts:
            raise PluginConflictError(self.conflict_message(key))
        installed = ", ".join(self.names()) or "none"
        hint = ""
        shipped = self.hints.get(key)
        if shipped:
            dist = shipped.distribution
            hint = (
                f"; install {dist} (pip install {dist}, or from a checkout: pip install ./{shipped.folder}) to use it"
            )
        note = f" {self.note}" if self.note else ""
        raise PluginNotFoundError(f"unknown {self.kind} {name!r}{hint}. Installed {self.kind}s: {installed}.{note}")

    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries.values()})


class PluginRegistry:
    """The plugin manager plus the machine and context tables built from it."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.machines = _Table("batch type", machine_key, _machine_base, "machines")
        self.contexts = _Table("context type", context_key, _context_base, "contexts")
        self.plugins: list[PluginInfo] = []
        self.load_errors: list[LoadError] = []
        self.disabled: list[Disabled] = []

    @property
    def hook(self) -> Any:
        return self.pm.hook

    @property
    def conflicts(self) -> list[Conflict]:
        return [
            Conflict(
                table.kind,
                claims[0].name,
                [{"name": c.plugin, "distribution": c.distribution} for c in claims],
                table.conflict_message(key),
            )
            for table in (self.machines, self.contexts)
            for key, claims in table.conflicts.items()
        ]

    def add_plugin(self, module: object, name: str, distribution: str = "", version: str = "") -> PluginInfo:
        """Register one plugin object and collect the classes it provides.

        Raises :class:`PluginLoadError`, leaving the registry as it was, when the plugin
        implements a hook that does not exist or with other parameters, or registers a class
        that is not a concrete Machine / BaseContext subclass. A name another plugin already registered becomes
        a conflict (see :attr:`conflicts`), not an error here.
        """
        info = PluginInfo(name=name, distribution=distribution or name, version=version)
        try:
            self.pm.register(module, name=name)
        except pluggy.PluginValidationError as err:  # a hook whose parameters are not the spec's
            raise PluginLoadError(name, info.distribution, "; ".join(str(err).splitlines())) from err
        try:
            self._check_hook_names(module, info)
            found = self._collect(module, info)
        except Exception:
            self.pm.unregister(module)
            raise
        for table, entry in found:
            table.add(entry)
        info.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        self.plugins.append(info)
        return info

    def _check_hook_names(self, module: object, info: PluginInfo) -> None:
        """pluggy's ``check_pending`` for one plugin: a misspelt hook is an error, not silence."""
        specs = [name for name, c in vars(self.hook).items() if not name.startswith("_") and c.has_spec()]
        problems = []
        for caller in self.pm.get_hookcallers(module) or []:
            if caller.has_spec() or all(i.optionalhook for i in caller.get_hookimpls() if i.plugin is module):
                continue
            close = difflib.get_close_matches(caller.name, specs, 1)
            problems.append(f"{caller.name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if problems:
            raise PluginLoadError(
                info.name,
                info.distribution,
                f"implements unknown hook {', '.join(problems)}; the hooks are listed in dpdispatcher.hookspecs",
            )

    def _collect(self, module: object, info: PluginInfo) -> list[tuple[_Table, Registered]]:
        """Call the plugin's registration hooks; every class is checked before any is added."""
        found: list[tuple[_Table, Registered]] = []

        def registrar(table: _Table, provided: list[str]) -> Callable[..., None]:
            def register(cls: type, name: str | None = None) -> None:
                problem = table.check(cls)
                if problem:
                    raise PluginLoadError(info.name, info.distribution, problem)
                entry_name = name or cls.__name__
                found.append((table, Registered(cls, entry_name, info.name, info.distribution)))
                provided.append(entry_name)

            return register

        caller = self.pm.subset_hook_caller
        others = [p for p in self.pm.get_plugins() if p is not module]
        caller("register_machines", others)(register=registrar(self.machines, info.machines))
        caller("register_contexts", others)(register=registrar(self.contexts, info.contexts))
        return found

    def _failed(self, name: str, distribution: str, error: str) -> None:
        self.load_errors.append(LoadError(name, distribution, error))
        logger.warning("plugin %r (%s) failed to load: %s", name, distribution, error)

    def load_entry_points(self) -> None:
        """Load every installed plugin, each in isolation, in the order of the entry point names."""
        only_first_party = os.environ.get(DISABLE_THIRD_PARTY_ENV, "").lower() not in ("", "0", "false", "no")

        distributions = _entry_point_distributions()

        def _dist_name(entry_point: Any) -> str:
            dist = distributions.get((entry_point.name, entry_point.value))
            return dist.metadata["Name"] if dist is not None else "unknown"

        def _dist_version(entry_point: Any) -> str:
            dist = distributions.get((entry_point.name, entry_point.value))
            return dist.version if dist is not None else ""

        def on_failure(_manager: Any, entry_point: Any, err: BaseException) -> None:
            self._failed(entry_point.name, _dist_name(entry_point), f"{type(err).__name__}: {err}")

        # filtered before import: a disabled third-party plugin is never imported
        wanted = []
        for (name, _value), dist in sorted(distributions.items(), key=lambda item: item[0]):
            if only_first_party and dist.metadata["Name"] not in FIRST_PARTY_DISTRIBUTIONS:
                self.disabled.append(Disabled(name, dist.metadata["Name"]))
            elif name not in wanted:
                wanted.append(name)
        if only_first_party:
            self.machines.note = self.contexts.note = _disabled_note(self.disabled)
        manager = NamedExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            names=wanted,
            name_order=True,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
            # on_failure already reported the entry point; stevedore would warn a second time
            on_missing_entrypoints_callback=None,
        )
        for ext in manager.extensions:
            dist = _dist_name(ext.entry_point)
            try:
                self.add_plugin(ext.plugin, ext.name, dist, _dist_version(ext.entry_point))
            except PluginLoadError as err:
                self._failed(ext.name, dist, err.detail)
            except Exception as err:  # a plugin whose hooks crash is reported, not fatal
                self._failed(ext.name, dist, f"{type(err).__name__}: {err}")
        for conflict in self.conflicts:
            logger.warning("%s", conflict.error)

    # The tables hold only classes that _Table.check accepted: Machine and BaseContext subclasses.
    def machine_class(self, name: str) -> type[Machine]:
        return cast("type[Machine]", self.machines.get(name))

    def context_class(self, name: str) -> type[BaseContext]:
        return cast("type[BaseContext]", self.contexts.get(name))

    def env_lines(self, machine: Machine, job: Job) -> list[str]:
        """Every plugin's ``job_script_env_lines`` for ``job``, flattened in the order pluggy calls them."""
        return [line for lines in self.hook.job_script_env_lines(machine=machine, job=job) for line in lines or []]


def _disabled_note(disabled: list[Disabled]) -> str:
    if not disabled:
        return f"{DISABLE_THIRD_PARTY_ENV} is set (no third-party plugin is installed)."
    which = ", ".join(f"{d.name} ({d.distribution})" for d in disabled)
    if len(disabled) == 1:
        return f"{DISABLE_THIRD_PARTY_ENV} is set and hid 1 third-party plugin: {which}; unset it to load it."
    return (
        f"{DISABLE_THIRD_PARTY_ENV} is set and hid {len(disabled)} third-party plugins: {which}; unset it to load them."
    )


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


def env_lines(machine: Machine, job: Job) -> list[str]:
    """The extra environment lines every plugin adds to ``job``'s script (typed facade of the hook)."""
    return get_registry().env_lines(machine, job)
