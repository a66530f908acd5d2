"""Commands that stay bounded however many jobs, tasks or files they are about.

Two rules keep every command the core or a plugin builds from N items small:

* a command made of one step per item is a **script sent on standard input**
  (:data:`STDIN_SCRIPT`): its size is not limited by the kernel's argument limits
  (128 KiB per argument) nor by what an SSH server accepts as a command line;
* a step that names many items to one program (``ps -p``, ``scancel``, ``rm``)
  is split with :func:`chunks` so that no line of the script exceeds
  :data:`COMMAND_BUDGET`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Sequence

#: Bytes one command line (an argument vector, or one line of a script) may take.
#: Well below Linux's 128 KiB per-argument limit and the 256 KiB packets of OpenSSH.
COMMAND_BUDGET = 32 * 1024

#: Runs the script it reads on standard input. The whole script is read first and
#: standard input is then closed, so a command in the script that reads its
#: standard input cannot swallow the lines after it.
STDIN_SCRIPT = "bash -c 'dpd_script=$(cat) && exec </dev/null && eval \"$dpd_script\"'"


def chunks(words: Sequence[str], fixed: int = 0, budget: int = COMMAND_BUDGET, sep: int = 1) -> Iterator[list[str]]:
    """Split ``words`` into runs whose lengths (plus ``fixed`` bytes and one ``sep`` each) fit ``budget``.

    A single word longer than the budget gets a run of its own: it cannot be split.
    """
    run: list[str] = []
    size = fixed
    for word in words:
        cost = len(word.encode()) + sep
        if run and size + cost > budget:
            yield run
            run, size = [], fixed
        run.append(word)
        size += cost
    if run:
        yield run


def chunked_command(program: Sequence[str], words: Sequence[str], joiner: str = " ") -> list[str]:
    """``program word1 word2 …`` split into command lines under the budget (words shell-quoted).

    With ``joiner=","`` the words form one comma-separated argument (``ps -p 1,2,3``).
    """
    head = shlex.join(program)
    quoted = [shlex.quote(w) for w in words] if joiner == " " else list(words)
    return [
        f"{head} {joiner.join(run)}" if joiner == " " else f"{head} {shlex.quote(joiner.join(run))}"
        for run in chunks(quoted, fixed=len(head) + 1, sep=len(joiner))
    ]


def script(lines: Iterable[str]) -> str:
    """Join script lines (one step each) into a script for :data:`STDIN_SCRIPT`."""
    return "\n".join(lines) + "\n"
