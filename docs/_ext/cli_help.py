"""The ``dpdisp-help`` directive: what ``dpdisp [COMMAND] --help`` prints, run at build time.

.. dpdisp-help:: submit

The command reference is the installed ``dpdisp``'s own help, so it cannot drift from the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sphinx.util.docutils import SphinxDirective

#: the width argparse wraps the help to (it reads COLUMNS)
HELP_COLUMNS = "100"


def dpdisp_help(words: list[str]) -> str:
    command = [sys.executable, "-m", "dpdispatcher.dpdisp", *words, "--help"]
    env = {**os.environ, "COLUMNS": HELP_COLUMNS}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`dpdisp {' '.join(words)} --help` failed: {done.stderr.strip()}")
    return done.stdout


class DpdispHelp(SphinxDirective):
    optional_arguments = 2
    has_content = False

    def run(self) -> list[Any]:
        try:
            text = dpdisp_help(list(self.arguments))
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            raise self.error(str(err)) from err
        lines = [".. code-block:: text", ""] + ["   " + line for line in text.splitlines()]
        self.state_machine.insert_input(lines, f"dpdisp-help:{' '.join(self.arguments)}")
        return []


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("dpdisp-help", DpdispHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
