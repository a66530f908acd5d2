"""``dpdisp doc machine|resources|task``: the documented arguments, plugins' included."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from dargs import Argument

from dpdispatcher.arginfo import machine_args, resources_args, task_args

ARGUMENTS: dict[str, Callable[[], Argument]] = {"machine": machine_args, "resources": resources_args, "task": task_args}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("doc", help="print the documented arguments of machine, resources or task")
    parser.add_argument("what", choices=sorted(ARGUMENTS))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(ARGUMENTS[args.what]().gen_doc(make_anchor=False))
    return 0
