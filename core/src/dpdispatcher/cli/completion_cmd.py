"""``dpdisp completion bash|zsh``: print the shell completion script."""

from __future__ import annotations

import argparse
from typing import Any

from dpdispatcher.cli.completion_script import SHELLS, script


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print the shell completion script (bash or zsh)",
        description="Print the completion script for your shell. Load it from your shell's start-up file: "
        'bash: eval "$(dpdisp completion bash)" in ~/.bashrc; zsh: eval "$(dpdisp completion zsh)" in ~/.zshrc.',
    )
    parser.add_argument("shell", choices=SHELLS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dpdispatcher.cli import build_parser  # the whole tree: every command, this one included

    print(script(build_parser(), args.shell), end="")
    return 0
