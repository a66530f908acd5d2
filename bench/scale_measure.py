"""How the scale suite measures: child runs of either package, and the limits (bash loops, ``xargs``).

Every measurement gives an :data:`Outcome`: seconds (or megabytes), or why there is no figure --
``"timeout"`` past the bound, ``"error: <first line>"`` for a failure. Every process started here runs in
its own session and is killed by its process group when it outlives the bound.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Union

HERE = Path(__file__).resolve().parent
CHILD = HERE / "scale_child.py"
BOUND = 600.0  # seconds: no run of either package, nor a limit, is waited for longer
PUBLISHED_VERSION = "1.1.0"

#: a figure, or why there is none ("timeout", "error: ...", "not run: ...")
Outcome = Union[float, str]


def note(message: str) -> None:
    """Progress on standard error (the table goes to standard output)."""
    print(message, file=sys.stderr, flush=True)


def first_line(text: str, limit: int = 160) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip()[:limit] if lines else "(no message)"


# -- work bases ----------------------------------------------------------------------------------


def task_name(i: int) -> str:
    """The directory of task ``i``; scale_child.py spells the same name from ``task.{i}/``."""
    return f"task.{i:06d}"


TASK_DIR = "task.{i}/"


def make_task_dirs(work: Path, n: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (work / task_name(i)).mkdir()


def missing_outputs(work: Path, n: int, name: str = "out.txt") -> int:
    return sum(not (work / task_name(i) / name).exists() for i in range(n))


def with_outputs(outcome: Outcome, work: Path, n: int) -> Outcome:
    """``outcome``, or an error when a run that gave a figure left some of the ``n`` tasks' out.txt unwritten."""
    if isinstance(outcome, str):
        return outcome
    missing = missing_outputs(work, n)
    return f"error: {missing} of {n} out.txt missing" if missing else outcome


def last_end(ends: Path, n: int) -> float | str:
    """The latest end time the N tasks appended to ``ends`` (``$EPOCHREALTIME``, one per line)."""
    try:
        values = [float(word.replace(",", ".")) for word in ends.read_text().split()]
    except (OSError, ValueError) as err:
        return f"error: end times unreadable: {err}"
    if len(values) < n:
        return f"error: {n - len(values)} of {n} tasks left no end time"
    return max(values)


# -- child processes ----------------------------------------------------------------------------------


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill what the child left in its process group (1.1.0's background jobs on a failure, say)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_child(
    python: Path, case: dict[str, Any], root: Path, timeout: float = BOUND, known_hosts: Path | None = None
) -> dict[str, Any] | str:
    """Run one case of scale_child.py with ``python`` (ours or 1.1.0's) in ``root``: its result, or why none.

    HOME and DPDISPATCHER_HOME point into ``root`` (both packages keep their records there);
    ``known_hosts`` is copied to ``~/.ssh/known_hosts`` for 1.1.0, which reads host keys from there.
    """
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    if known_hosts is not None:
        (home / ".ssh").mkdir(exist_ok=True)
        (home / ".ssh" / "known_hosts").write_bytes(known_hosts.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), DPDISPATCHER_HOME=str(home / "dpdispatcher-home"), CI="1")
    results = root / "result.json"
    log = root / "child.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(python), str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=root,
            env=env,
            start_new_session=True,
        )
        try:
            proc.communicate(json.dumps({**case, "results": str(results)}), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            return "timeout"
        finally:
            _kill_group(proc)
    if not results.exists():
        return f"error: exit code {proc.returncode}: {first_line(log.read_text()[-2000:])}"
    result: dict[str, Any] = json.loads(results.read_text())
    if "error" in result:
        return f"error: {first_line(result['error'])}"
    return result


def timed_process(argv: list[str], cwd: Path, timeout: float = BOUND, stdin: Path | None = None) -> Outcome:
    """Wall seconds of one command (a limit), ``"timeout"`` or ``"error: ..."``."""
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return "timeout"
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return f"error: exit code {proc.returncode}: {first_line(err.decode(errors='replace'))}"
    return seconds


# -- the limits ----------------------------------------------------------------------------------------


def bash_loop(work: Path, n: int, command: str, para_deg: int, name: str = "bash-loop.sh") -> Path:
    """A bash script (``work/name``) running each task's command in its directory, ``para_deg`` at a time."""
    lines = [
        "running=0",
        f'throttle() {{ running=$((running + 1)); if [ "$running" -ge {para_deg} ]; then wait -n; '
        "running=$((running - 1)); fi; }",
    ]
    lines += [f"( cd {task_name(i)} && {command.replace('{i}', str(i))} ) & throttle" for i in range(n)]
    lines.append("wait")
    script = work / name
    script.write_text("\n".join(lines) + "\n")
    return script


def launch_all(work: Path, n: int, command: str) -> Path:
    """One ``job.sh`` per task directory and a script starting every ``bash job.sh &``, then waiting."""
    for i in range(n):
        directory = work / task_name(i)
        (directory / "job.sh").write_text(f"cd {shlex.quote(str(directory))} && {command.replace('{i}', str(i))}\n")
    script = work / "launch-all.sh"
    script.write_text("".join(f"bash {task_name(i)}/job.sh &\n" for i in range(n)) + "wait\n")
    return script


def xargs_argv(command: str, para_deg: int) -> list[str]:
    """``xargs -P para_deg`` running ``command`` in each directory named on standard input."""
    return ["xargs", "-P", str(para_deg), "-n", "1", "bash", "-c", f'cd "$1" && {command}', "_"]


def directory_list(work: Path, n: int) -> Path:
    listing = work / "directories.txt"
    listing.write_text("".join(f"{task_name(i)}\n" for i in range(n)))
    return listing


# -- the published package -----------------------------------------------------------------------------


def published_version(python: Path) -> str:
    """The dpdispatcher version ``python`` imports, or why it cannot."""
    probe = [str(python), "-c", "import dpdispatcher; print(dpdispatcher.__version__)"]
    try:
        found = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        return f"cannot run {python}: {err}"
    if found.returncode != 0:
        last = found.stderr.strip().splitlines()[-1:] or [f"exit code {found.returncode}"]
        return f"{python} cannot import dpdispatcher: {last[0]}"
    return found.stdout.strip()


def published_interpreter(explicit: str | None, default_venv: Path) -> tuple[Path | None, str]:
    """A python with dpdispatcher==1.1.0: ``explicit`` if given, else the venv bench_local.py installs."""
    if explicit is None:
        from bench_local import published_python

        return published_python(default_venv)
    python = Path(explicit)
    version = published_version(python)
    if version != PUBLISHED_VERSION:
        return None, f"{python} has dpdispatcher {version}, not {PUBLISHED_VERSION}"
    return python, ""
