"""``dpdisp plugins``: what is installed, what it provides, what failed to load, which names conflict.

``dpdisp plugins new NAME --kind machine|context`` writes the package of a new plugin (see
:mod:`dpdispatcher.scaffold`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from dpdispatcher.plugins import DISABLE_THIRD_PARTY_ENV, get_registry
from dpdispatcher.scaffold import KINDS, write_plugin


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("plugins", help="list installed plugins; `plugins new` starts a new one")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)
    actions = parser.add_subparsers(dest="plugins_action", metavar="{new}")
    new = actions.add_parser(
        "new",
        help="write the package of a new plugin that passes its contract tests out of the box",
        description="Write dpdispatcher-NAME/ (in --dir, default the current directory): a pyproject with the "
        "entry point, the batch type or context class with every method to fill in documented, contract tests "
        'from dpdispatcher.testing and a README. `pip install -e "./dpdispatcher-NAME[test]"` and `pytest` there '
        "pass before you change a line.",
    )
    new.add_argument("name", help="plugin name: lower-case letters and digits, words joined by - or _ (e.g. myqueue)")
    new.add_argument(
        "--kind", choices=KINDS, required=True, help="machine (a batch type, i.e. a scheduler) or context (a transport)"
    )
    new.add_argument("--dir", default=".", help="where to write the package (default: the current directory)")
    new.set_defaults(run=run_new)


def plugin_report() -> dict[str, Any]:
    registry = get_registry()
    return {
        "plugins": [dataclasses.asdict(p) for p in registry.plugins],
        "load_errors": [dataclasses.asdict(e) for e in registry.load_errors],
        "conflicts": [dataclasses.asdict(c) for c in registry.conflicts],
        "disabled": [dataclasses.asdict(d) for d in registry.disabled],
    }


def print_plugin_table() -> None:
    report = plugin_report()
    rows = [("NAME", "DISTRIBUTION", "VERSION", "BATCH TYPES", "CONTEXTS", "HOOKS")]
    for p in report["plugins"]:
        rows.append(
            (
                p["name"],
                p["distribution"],
                p["version"],
                ", ".join(p["machines"]) or "-",
                ", ".join(p["contexts"]) or "-",
                ", ".join(p["hooks"]) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not report["plugins"]:
        print("(no plugins installed: pip install dpdispatcher-shell dpdispatcher-local)")
    for err in report["load_errors"]:
        print(f"FAILED TO LOAD: {err['name']} ({err['distribution']}): {err['error']}")
    for conflict in report["conflicts"]:
        print(f"CONFLICT: {conflict['error']}")
    if report["disabled"]:
        hidden = ", ".join(f"{d['name']} ({d['distribution']})" for d in report["disabled"])
        print(f"DISABLED by {DISABLE_THIRD_PARTY_ENV}: {hidden}")


def run_new(args: argparse.Namespace) -> int:
    target = write_plugin(args.name, args.kind, args.dir)
    print(f"wrote {target}")
    print(f'next: pip install -e "{target}[test]" && (cd {target} && pytest -m "not slow")')
    return 0


def run(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(plugin_report(), indent=2))
    else:
        print_plugin_table()
    return 0
