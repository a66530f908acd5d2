"""``dpdisp --version``: the versions of the core and of every installed plugin."""

from __future__ import annotations

import argparse
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from dpdispatcher.plugins import get_registry

CORE_DISTRIBUTION = "dpdispatcher-core"


def core_version() -> str:
    try:
        return version(CORE_DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def version_report() -> str:
    """One line for the core, then one per plugin (and per plugin that failed to load)."""
    registry = get_registry()
    lines = [f"dpdisp {core_version()} ({CORE_DISTRIBUTION}, Python {platform.python_version()})"]
    plugins = sorted(registry.plugins, key=lambda p: p.distribution)
    failed = sorted(registry.load_errors, key=lambda e: e.distribution)
    if not plugins and not failed:
        lines.append("no plugins installed (pip install dpdispatcher-shell dpdispatcher-local)")
    width = max((len(p.distribution) for p in plugins), default=0)
    lines += [f"  {p.distribution.ljust(width)}  {p.version or '?'}  (plugin {p.name})" for p in plugins]
    lines += [f"  {e.distribution}  FAILED TO LOAD (plugin {e.name}): {e.error}" for e in failed]
    return "\n".join(lines)


class VersionAction(argparse.Action):
    """Print :func:`version_report` and exit; the plugins are loaded only when the option is given."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="print the versions of dpdisp and of every installed plugin, and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        print(version_report())
        parser.exit()
