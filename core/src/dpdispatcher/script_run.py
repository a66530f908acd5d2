"""A Python script that carries its own submission in PEP 723 inline metadata (``dpdisp run SCRIPT.py``).

The script's ``# /// script`` block holds a ``[tool.dpdispatcher]`` table: ``machine``, ``resources``,
``task_list`` and optionally ``work_base`` (default ``./``), ``forward_common_files``,
``backward_common_files`` and ``continue_on_failure``. As in the published package, each task's
``task_work_path`` may be a glob (one task per matching directory), its ``command`` is the
interpreter (default ``python``, whichever the job's PATH finds), and the script itself is written
into the job root as ``script_<sha1 of its text>.py`` and run by every task from its own directory as
``COMMAND "$REMOTE_ROOT"/script_<sha1>.py``. The block's other keys (``dependencies``,
``requires-python``) are not acted on: a task that needs them names a launcher as its command
(``command = "uv run"``).

Relative paths (``machine.local_root``, ``$ref`` names) are relative to the script's directory, as
``dpdisp submit`` takes them relative to the submission file.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import sys
from collections.abc import Collection
from typing import Any, Callable, TypeVar

from dargs import Argument

from dpdispatcher.arginfo import check_and_normalize, task_args
from dpdispatcher.errors import ConfigError
from dpdispatcher.machine import Machine
from dpdispatcher.refs import resolve_refs
from dpdispatcher.resources import Resources
from dpdispatcher.submission import Submission
from dpdispatcher.task import Task

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # a dependency below 3.11 only

#: a metadata block, as PEP 723's reference implementation finds them
METADATA_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
#: the interpreter a task runs the script with when it names none
DEFAULT_COMMAND = "python"
TABLE = "[tool.dpdispatcher]"

T = TypeVar("T")


def read_script_metadata(script: str, source: str) -> dict[str, Any] | None:
    """The TOML of ``script``'s ``# /// script`` block, or None when it has none."""
    blocks = [m for m in METADATA_BLOCK.finditer(script) if m.group("type") == "script"]
    if len(blocks) > 1:
        lines = ", ".join(str(script.count("\n", 0, m.start()) + 1) for m in blocks)
        raise ConfigError(f"{source}: {len(blocks)} `# /// script` metadata blocks (lines {lines}); PEP 723 allows one")
    if not blocks:
        return None
    toml = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        return tomllib.loads(toml)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: the `# /// script` block is not valid TOML: {err}") from None


def script_file_name(script: str) -> str:
    """The name the script gets in the job root: one per script text, so an edited script is a new submission."""
    return f"script_{hashlib.sha1(script.encode()).hexdigest()}.py"


def table_args() -> Argument:
    """The top level of ``[tool.dpdispatcher]``; machine, resources and tasks are checked by their own schemas."""
    return Argument(
        "tool.dpdispatcher",
        dict,
        [
            Argument("machine", dict, doc="Where and how the jobs run (see `dpdisp doc machine`)."),
            Argument("resources", dict, doc="What each job asks the scheduler for (see `dpdisp doc resources`)."),
            Argument(
                "task_list",
                list,
                doc="The tasks; task_work_path may be a glob (one task per matching directory) and command "
                f"is the interpreter (default {DEFAULT_COMMAND}).",
            ),
            Argument("work_base", str, optional=True, default="./", doc="The directory holding the task directories."),
            Argument("forward_common_files", list, optional=True, default=[], doc="Files uploaded into the job root."),
            Argument("backward_common_files", list, optional=True, default=[], doc="Files downloaded at the end."),
            Argument(
                "continue_on_failure",
                bool,
                optional=True,
                default=False,
                doc="When a job exhausts its retries, keep running the others and report at the end.",
            ),
        ],
    )


class ScriptSubmission(Submission):
    """A submission whose tasks run one Python script, written into the job root with the uploads."""

    def __init__(self, script: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.script_name = script_file_name(script)

    def upload_jobs(self) -> None:
        super().upload_jobs()
        self._machine().context.write_file(self.script_name, self.script)

    def generated_files(self, cleaned: Collection[str] = ()) -> list[str]:
        return [*super().generated_files(cleaned), self.script_name]


def load_script_submission(path: str, allow_ref: bool = False) -> ScriptSubmission:
    """Read the script at ``path`` and build the submission its ``[tool.dpdispatcher]`` table describes."""
    try:
        with open(path, encoding="utf-8") as f:
            script = f.read()
    except OSError as err:
        raise ConfigError(f"cannot read the script {path}: {err.strerror}") from None
    return build_script_submission(script, path, allow_ref)


def build_script_submission(script: str, path: str, allow_ref: bool = False) -> ScriptSubmission:
    """The submission of ``script`` (read from ``path``, which relative paths are relative to)."""
    metadata = read_script_metadata(script, path)
    if metadata is None:
        raise ConfigError(
            f"{path}: no PEP 723 metadata: `dpdisp run` needs a `# /// script` block with a {TABLE} table"
        )
    tool = metadata.get("tool")
    table = tool.get("dpdispatcher") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: the `# /// script` block has no {TABLE} table (machine, resources, task_list)")
    resolved = resolve_refs(table, path, allow_ref, at=("tool", "dpdispatcher"))
    config = _named(f"{path}: ", lambda: check_and_normalize(table_args(), resolved, "tool.dpdispatcher"))
    machine_dict = dict(config["machine"])
    script_dir = os.path.dirname(os.path.abspath(path))
    machine_dict["local_root"] = os.path.join(script_dir, machine_dict.get("local_root") or ".")
    machine = _named(f"{path}: {TABLE} ", lambda: Machine.load_from_dict(machine_dict))
    resources = _named(f"{path}: {TABLE} ", lambda: Resources.load_from_dict(config["resources"]))
    local_work_base = os.path.join(machine.context.init_local_root, config["work_base"])
    script_name = script_file_name(script)
    tasks = [
        task
        for index, entry in enumerate(config["task_list"])
        for task in _tasks_of(entry, index, local_work_base, script_name, path)
    ]
    return ScriptSubmission(
        script,
        work_base=config["work_base"],
        machine=machine,
        resources=resources,
        task_list=tasks,
        forward_common_files=config["forward_common_files"],
        backward_common_files=config["backward_common_files"],
        continue_on_failure=config["continue_on_failure"],
    )


def _tasks_of(entry: Any, index: int, local_work_base: str, script_name: str, path: str) -> list[Task]:
    """The tasks of one ``task_list`` entry: one per directory its ``task_work_path`` matches."""
    where = f"tool.dpdispatcher/task_list/{index}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where} must be a table, got {type(entry).__name__}")
    template = _named(
        f"{path}: ", lambda: check_and_normalize(task_args(), {"command": DEFAULT_COMMAND, **entry}, where)
    )
    command = f'{template["command"]} "$REMOTE_ROOT"/{script_name}'
    return [
        Task.deserialize({**template, "command": command, "task_work_path": work_path})
        for work_path in _matching_dirs(local_work_base, template["task_work_path"], f"{path}: {where}/task_work_path")
    ]


def _matching_dirs(local_work_base: str, pattern: str, where: str) -> list[str]:
    """``pattern`` itself when it names a directory under the work base, else the directories it matches as a glob."""
    if os.path.isdir(os.path.join(local_work_base, pattern)):
        return [pattern]
    matches = sorted(glob.glob(os.path.join(local_work_base, pattern)))
    dirs = [os.path.relpath(m, local_work_base) for m in matches if os.path.isdir(m)]
    if not dirs:
        files = (
            f" (only files: {', '.join(os.path.relpath(m, local_work_base) for m in matches[:3])})" if matches else ""
        )
        raise ConfigError(f"{where}: {pattern!r} matches no directory under {local_work_base}{files}")
    return dirs


def _named(prefix: str, build: Callable[[], T]) -> T:
    """Run ``build``; a config error it raises gets ``prefix`` (the script, and the table where it helps)."""
    try:
        return build()
    except ConfigError as err:
        raise ConfigError(f"{prefix}{err}") from None
