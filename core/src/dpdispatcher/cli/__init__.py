"""The ``dpdisp`` command line."""

from __future__ import annotations

import argparse
import sys

from dpdispatcher.cli import (
    completion_cmd,
    doc_cmd,
    plugins_cmd,
    run_cmd,
    submission_cmd,
    submissions_cmd,
    submit_cmd,
)
from dpdispatcher.cli.common_options import add_everywhere, applied
from dpdispatcher.cli.pipes import EXIT_STATUS, silence_stdout, stdout_reader_gone
from dpdispatcher.cli.version import VersionAction
from dpdispatcher.errors import DispatcherError

COMMANDS = (plugins_cmd, submit_cmd, run_cmd, submission_cmd, submissions_cmd, doc_cmd, completion_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpdisp", description="Submit shell tasks to HPC schedulers and bring the results back."
    )
    parser.add_argument("--version", action=VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    add_everywhere(parser)  # -v, -q, --no-progress: before or after any command name
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's exit flush
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        silence_stdout()
        return EXIT_STATUS


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with applied(args):
            return args.run(args) or 0
    except DispatcherError as err:
        print(f"dpdisp: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dpdisp: interrupted; run the same command again to pick up where it stopped", file=sys.stderr)
        return 130
