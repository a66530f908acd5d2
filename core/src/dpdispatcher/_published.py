"""The module paths of the published package (``dpdispatcher.machines.slurm``, ...), served from the plugins.

Scripts written for the published ``dpdispatcher`` import backends from these paths. The core
knows no backend by name: each path module lists the names it serves and looks them up in the
plugin registry when they are first used; a backend that is not installed is an ImportError that
says which distribution provides it.
"""

from __future__ import annotations

from collections.abc import Callable

from dpdispatcher.errors import PluginNotFoundError


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
