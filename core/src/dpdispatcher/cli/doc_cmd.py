"""``dpdisp doc machine|resources|task|submission``: the documented arguments, plugins' included."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any, Callable

from dargs import Argument

from dpdispatcher.arginfo import machine_args, resources_args, task_args
from dpdispatcher.cli.doc_render import FORMATS, render
from dpdispatcher.cli.submission_file import submission_args

ARGUMENTS: dict[str, Callable[[], Argument]] = {
    "machine": machine_args,
    "resources": resources_args,
    "task": task_args,
    "submission": submission_args,
}

#: widest text when stdout is not a terminal (or a wider one)
TEXT_WIDTH = 100


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doc", help="print the documented arguments of machine, resources, task or the submission file"
    )
    parser.add_argument("what", choices=sorted(ARGUMENTS))
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default; plain, fits the terminal), md (Markdown), rst (reStructuredText, as dargs writes it) "
        "or json (the argument tree)",
    )
    parser.set_defaults(run=run)


def text_width() -> int:
    if sys.stdout.isatty():
        return min(shutil.get_terminal_size().columns, TEXT_WIDTH)
    return TEXT_WIDTH


def run(args: argparse.Namespace) -> int:
    print(render(ARGUMENTS[args.what](), args.format, width=text_width()), end="")
    return 0
