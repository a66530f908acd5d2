"""The ``dpdisp`` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from dpdispatcher.cli import doc_cmd, plugins_cmd, submission_cmd, submit_cmd
from dpdispatcher.errors import DispatcherError

COMMANDS = (plugins_cmd, submit_cmd, submission_cmd, doc_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpdisp", description="Submit shell tasks to HPC schedulers and bring the results back."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO level)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args) or 0
    except DispatcherError as err:
        print(f"dpdisp: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dpdisp: interrupted; run the same command again to pick up where it stopped", file=sys.stderr)
        return 130
