"""Options every ``dpdisp`` command accepts, before or after its name: ``-v``, ``-q``, ``--no-progress``.

They are added to the top-level parser with their defaults and to every subcommand's parser
with ``SUPPRESS`` defaults: a subcommand's parser then sets them only when they are given
after the command name, and never resets what was given before it (``dpdisp -v submit f``
and ``dpdisp submit f -v`` are the same). When both ``-v`` and ``-q`` are given, the last wins.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from dpdispatcher import progress

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
PROGRESS_FORMAT = "%(asctime)s %(message)s"
PROGRESS_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def add_common_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """Add the common options to ``parser``; ``top`` for the top-level parser (the only one with defaults)."""
    default = logging.WARNING if top else argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const=logging.INFO,
        default=default,
        help="log what happens (INFO level)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const=logging.ERROR,
        default=default,
        help="print only errors and the result (no warnings, no progress)",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=True if top else argparse.SUPPRESS,
        help="show no progress of running jobs (default: a live line on a terminal, "
        f"else a log line per change, at most every {progress.LOG_INTERVAL:.0f} s)",
    )


def add_everywhere(parser: argparse.ArgumentParser) -> None:
    """Add the common options to ``parser`` and to every subcommand's parser under it, at any depth."""
    add_common_options(parser, top=True)
    for sub in subcommand_parsers(parser):
        _add_below(sub)


def _add_below(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser, top=False)
    for sub in subcommand_parsers(parser):
        _add_below(sub)


def subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of ``parser``'s subcommands, each once (aliases share a parser)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if sub not in found:
                    found.append(sub)
    return found


@contextlib.contextmanager
def applied(args: argparse.Namespace) -> Iterator[None]:
    """Logging and progress as the options say, for the duration of one command (restored afterwards)."""
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    root = logging.getLogger()
    saved_level = root.level
    root.setLevel(args.log_level)
    shows_progress = args.progress and args.log_level <= logging.WARNING
    progress_logger = progress.logger
    saved = (progress_logger.level, progress_logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(PROGRESS_FORMAT, PROGRESS_DATE_FORMAT))
    progress_logger.addHandler(handler)
    progress_logger.setLevel(logging.INFO)
    progress_logger.propagate = False  # its lines have their own format and show without -v
    try:
        if shows_progress:
            yield
        else:
            with progress.turned_off():
                yield
    finally:
        progress_logger.removeHandler(handler)
        progress_logger.setLevel(saved[0])
        progress_logger.propagate = saved[1]
        root.setLevel(saved_level)
