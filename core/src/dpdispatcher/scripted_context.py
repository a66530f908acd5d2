"""A context for a batch type's unit tests without a scheduler (exported by :mod:`dpdispatcher.testing`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.commands import STDIN_SCRIPT

Answer = CommandResult | Callable[[str], CommandResult]


class ScriptedContext(BaseContext):
    """``run`` answers from rules and records every command; files are names in memory.

    A script sent on standard input (:meth:`BaseContext.run_script`) is recorded, and
    matched, as its text. ``submit_marker=("qsub", "$(qsub ")`` makes a rule for ``qsub``
    also answer any command holding ``$(qsub `` (the core's submit script runs the submit
    command inside it). Unmatched commands succeed with no output.

    ::

        context = ScriptedContext(tmp_path, submit_marker=("qsub", "$(qsub "))
        context.answer("qstat", stdout=QSTAT_JSON)
        context.answer("qsub", returncode=1, stderr="qsub: Unknown queue")
        machine = Machine(batch_type="PBS", context=context)
    """

    def __init__(self, root: Path, submit_marker: tuple[str, str] | None = None) -> None:
        super().__init__(local_root=str(root / "local"), remote_root=str(root / "remote"))
        self.submit_marker = submit_marker
        #: every command run, in order
        self.commands: list[str] = []
        self.rules: list[tuple[str, Answer]] = []
        self.files: set[str] = set()
        self.contents: dict[str, str] = {}
        #: how many existence queries (:meth:`files_exist`) were made
        self.exist_queries = 0

    def answer(
        self,
        prefix: str,
        returncode: int = 0,
        stdout: str = "",
        stderr: str = "",
        call: Callable[[str], CommandResult] | None = None,
    ) -> None:
        """Answer commands starting with ``prefix`` (the latest rule wins); ``call(cmd)`` computes the answer."""
        self.rules.insert(0, (prefix, call or CommandResult(returncode, stdout, stderr)))

    def _matches(self, prefix: str, cmd: str) -> bool:
        if cmd.startswith(prefix):
            return True
        return self.submit_marker is not None and prefix == self.submit_marker[0] and self.submit_marker[1] in cmd

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        if cmd == STDIN_SCRIPT:
            cmd = (stdin or "").rstrip("\n")
        self.commands.append(cmd)
        for prefix, result in self.rules:
            if self._matches(prefix, cmd):
                return result(cmd) if callable(result) else result
        return CommandResult(0, "", "")

    def files_exist(self, fnames: list[str]) -> set[str]:
        self.exist_queries += 1
        return {f for f in fnames if f in self.files}

    def write_file(self, fname: str, write_str: str) -> None:
        self.files.add(fname)
        self.contents[fname] = write_str

    def read_file(self, fname: str) -> str:
        return self.contents[fname]

    def check_file_exists(self, fname: str) -> bool:
        return fname in self.files

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        self.files.update(files)

    def download_files(self, patterns: list[str]) -> list[str]:
        return [p for p in patterns if p not in self.files]

    def clean(self, generated: Collection[str] = ()) -> None:
        self.files.clear()
