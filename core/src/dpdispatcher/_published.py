"""The module paths of the published package (``dpdispatcher.machines.slurm``, ...), served from the plugins.

Scripts written for the published ``dpdispatcher`` import backends from these paths. The core
knows no backend by name: each path module lists the names it serves and looks them up in the
plugin registry when they are first used; a backend that is not installed is an ImportError that
says which distribution provides it.

Paths that hold more than classes (``dpdispatcher.dpcloudserver.api``: a client, return codes,
zip helpers) are served by :func:`served_module` from the module that a distribution shipped with
DPDispatcher declares for that path in the entry point group :data:`PUBLISHED_GROUP`
(``"dpdispatcher.dpcloudserver.api" = "dpdispatcher_dpcloudserver.api"``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from dpdispatcher.errors import PluginNotFoundError

#: entry point group: name = a published module path, value = the plugin module that serves it
PUBLISHED_GROUP = "dpdispatcher.published"


def served(module: str, names: tuple[str, ...]) -> Callable[[str], type]:
    """A module ``__getattr__`` that serves ``names`` from the installed plugins."""

    def __getattr__(name: str) -> type:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        from dpdispatcher.plugins import get_registry

        registry = get_registry()
        try:
            return registry.machine_class(name)
        except PluginNotFoundError as machine_error:
            try:
                return registry.context_class(name)
            except PluginNotFoundError:
                raise ImportError(f"cannot import name {name!r} from {module!r}: {machine_error}", name=name) from None

    return __getattr__


def served_module(module: str, names: tuple[str, ...], batch_type: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves ``names`` from the plugin module declared for ``module``.

    ``batch_type`` names what the providing distribution ships, for the install hint of the
    ImportError raised when none is installed.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        provider = _provider(module)
        if provider is None:
            raise ImportError(f"cannot import name {name!r} from {module!r}: {_missing(batch_type)}", name=name)
        return getattr(provider, name)

    return __getattr__


@functools.cache
def _provider(module: str) -> ModuleType | None:
    """The module a first-party distribution declares for the published path ``module``, imported; or None."""
    from importlib.metadata import distributions

    from dpdispatcher.plugins import FIRST_PARTY_DISTRIBUTIONS

    for dist in distributions():
        if dist.metadata["Name"] not in FIRST_PARTY_DISTRIBUTIONS:
            continue  # a published path is the project's: no third party may take it over
        for entry_point in dist.entry_points:
            if entry_point.group == PUBLISHED_GROUP and entry_point.name == module:
                return importlib.import_module(entry_point.value)
    return None


def _missing(batch_type: str) -> str:
    from dpdispatcher.plugins import get_registry

    try:
        get_registry().machine_class(batch_type)
    except PluginNotFoundError as err:
        return str(err)
    return f"the installed plugin providing {batch_type!r} does not serve this module; reinstall it"
