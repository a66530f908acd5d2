"""IBM Spectrum LSF front of the scheduler TEST DOUBLE: ``bsub``, ``bjobs``, ``bkill``, ``bstop``, ``bresume``.

It answers in the formats IBM Spectrum LSF 10.1 documents (command reference: bsub, bjobs
``-o``/``-json``, bkill; "Job states"; "Termination reasons displayed by bacct, bhist and
bjobs"):

* ``bsub [options] < script`` and ``bsub [options] script``: ``#BSUB`` lines at the top of the
  script are read like options, the command line wins. Prints ``Job <1234> is submitted to
  queue <normal>.`` (``... to default queue <normal>.`` without ``-q``). Reads ``-J`` (a
  name, or ``name[1-8]`` / ``name[1,3,5-7]`` for a job array: one element per index, each with
  ``$LSB_JOBINDEX``), ``-n``, ``-q`` (an unknown queue: ``q: No such queue. Job not
  submitted.``), ``-o``/``-oo``, ``-e``/``-eo`` (``%J`` is the job id, ``%I`` the array
  index; relative paths are in the submit directory), ``-Jd`` (the job description, the
  ``job_description`` field of ``bjobs -o``), ``-W [hour:]minute`` (the run limit,
  enforced: TERM_RUNLIMIT, exit code 140), ``-R``, ``-gpu``, ``-H`` (held: PSUSP), ``-env``.
  Like LSF, the job runs in the submit directory with the submission's environment and the
  ``LSB_*`` variables (``LSB_JOBID``, ``LSB_JOBNAME``, ``LSB_JOBINDEX``, ``LSB_QUEUE``,
  ``LS_SUBCWD``, ``LSB_DJOB_NUMPROC``, ...).
* ``bjobs -o "jobid stat exit_code exit_reason" -json [id ...]`` prints
  ``{"COMMAND":"bjobs","JOBS":N,"RECORDS":[{"JOBID":"1234","STAT":"RUN",...}]}``; an id
  the double does not know (never, or forgotten: ``forget()`` or the ``history`` knob, LSF's
  ``CLEAN_PERIOD``) is the record ``{"ERROR":"Job <1234> is not found"}`` (and bjobs exits
  255). Ended jobs stay listed (DONE, or EXIT with EXIT_CODE and EXIT_REASON such as
  ``TERM_OWNER: job killed by owner``). Without ids: the user's unfinished jobs (``-a``: and
  the finished ones), filtered by ``-J name`` (``*`` wildcards) and ``-q``; none:
  ``No unfinished job found`` (``-J``: ``Job <name> is not found``), exit 255. Without
  ``-json``: the ``-o`` columns, or the default table. Array elements are records of their
  own (``JOBID`` the array's id, ``JOBINDEX`` the index, ``JOB_NAME`` ``name[i]``); an id
  ``1234[3]`` names one element.
* ``bkill id ...`` → ``Job <1234> is being terminated``; ``Job <1234>: No matching job
  found``, ``Job <1234>: Job has already finished`` (exit 255). ``bkill 0``: every unfinished
  job of the user.
* ``bstop`` / ``bresume id ...``: a pending job is held (PSUSP) / released, a running one is
  stopped (USUSP, SIGSTOP) / continued.

States: PEND (queued), PSUSP (held), RUN (running, exiting), USUSP (bstop), DONE (exit 0),
EXIT (anything else). The ``stat`` knob (``configure(stat={"1234": "UNKWN"})``) makes bjobs
show another STAT for a job (UNKWN, SSUSP, ZOMBI, ...) until it is cleared. Exit codes are
the shell's: the script's code, 128 + N for a job killed by signal N (bkill: 143).

Knobs of this front (``configure(...)``): ``queues`` (default ``["normal"]``),
``seconds_per_minute`` (what one minute of ``-W`` lasts, default 60), ``stat``.
Canned answers: :func:`pending_threshold`, :func:`not_submitted`, :func:`lost_answer`;
``down`` (``LSF is down. Please wait ...`` / ``Cannot connect to LSF. Please wait ...``).
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path

from doubles.engine import ACTIVE, EXITING, FINISHED, HELD, QUEUED, RUNNING, Answer, Engine, Job

DEFAULT_QUEUE = "normal"
#: what the engine records for a job killed at its run limit (the front shows EXIT_CODE 140, TERM_RUNLIMIT)
RUNLIMIT_STATUS = 1140
RUNLIMIT_EXIT_CODE = 140  # 128 + SIGUSR2, what LSF jobs killed at their run limit exit with
LSF_ERROR = 255

#: bsub options that take no argument (everything else takes one)
BSUB_FLAGS = {
    "-B", "-H", "-I", "-Ip", "-Is", "-IS", "-ISp", "-ISs", "-IX", "-K", "-N", "-Ne", "-r", "-rn",
    "-x", "-tty", "-ul", "-hl", "-XF", "-K_hb", "-json_help",
}  # fmt: skip
BJOBS_FLAGS = {"-a", "-A", "-d", "-p", "-r", "-s", "-w", "-W", "-l", "-json", "-noheader", "-hms", "-X", "-x", "-UF"}
BKILL_FLAGS = {"-r", "-d", "-b", "-C"}

TERM_OWNER = "TERM_OWNER: job killed by owner"
TERM_RUNLIMIT = "TERM_RUNLIMIT: job killed after reaching LSF run time limit"

#: the bjobs -o fields the double knows (aliases -> field)
FIELDS = {
    "jobid": "jobid", "id": "jobid", "jobindex": "jobindex", "stat": "stat", "user": "user",
    "queue": "queue", "job_name": "job_name", "name": "job_name", "exit_code": "exit_code",
    "exit_reason": "exit_reason", "from_host": "from_host", "exec_host": "exec_host",
    "submit_time": "submit_time", "start_time": "start_time", "finish_time": "finish_time",
    "slots": "slots", "nreq_slot": "slots", "command": "command", "cmd": "command",
    "job_description": "job_description", "description": "job_description",
}  # fmt: skip
DEFAULT_COLUMNS = ["jobid", "user", "stat", "queue", "from_host", "exec_host", "job_name", "submit_time"]


def pending_threshold(user: str | None = None) -> Answer:
    """What bsub answers when the user has reached MAX_PEND_JOBS (a "not now")."""
    return Answer(
        stderr=f"User <{user or getpass.getuser()}>: Pending job threshold reached. Job not submitted.\n",
        code=LSF_ERROR,
    )


def not_submitted() -> Answer:
    """A refusal with no reason but "Job not submitted." (a site limit)."""
    return Answer(stderr="Job not submitted.\n", code=LSF_ERROR)


def lost_answer() -> Answer:
    """What bsub says when mbatchd's answer does not come back in time (use with ``after=True``)."""
    return Answer(stderr="Failed in an LSF library call: Communication time out.\nJob not submitted.\n", code=LSF_ERROR)


def down(engine: Engine, command: str) -> Answer:
    """A cluster whose master cannot be reached (LIM or mbatchd down)."""
    if command == "bsub":
        return Answer(stderr="Cannot connect to LSF. Please wait ...\nJob not submitted.\n", code=LSF_ERROR)
    return Answer(stderr="LSF is down. Please wait ...\n", code=LSF_ERROR)


# -- options -------------------------------------------------------------------------------------------


def parse_options(args: list[str], flags: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """LSF style (``-opt value``, multi-letter options): ``[(option, value)]`` and the operands."""
    options: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return options, args[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return options, args[i:]
        if arg in flags:
            options.append((arg, ""))
        elif i + 1 < len(args):
            options.append((arg, args[i + 1]))
            i += 1
        else:
            raise ValueError(f"{arg}: option requires an argument")
        i += 1
    return options, []


def directives(script_text: str) -> list[str]:
    """The words of the ``#BSUB`` lines before the first command of the script."""
    words: list[str] = []
    lines = script_text.splitlines()
    for line in lines[1:] if script_text.startswith("#!") else lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if stripped.startswith("#BSUB"):
            words += shlex.split(stripped[5:])
    return words


def minutes(text: str) -> float:
    """``[hour:]minute`` -> minutes (bsub -W)."""
    parts = text.split("/", 1)[0].split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    return float(parts[0]) * 60 + float(parts[1]) if len(parts) == 2 else float(parts[0])


def index_list(spec: str) -> list[int]:
    """``1-8``, ``1,3,5-7``, ``1-10:2`` -> indices (LSF: 1-based, ascending)."""
    indices: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if not match:
            raise ValueError(spec)
        start = int(match.group(1))
        end = int(match.group(2) or start)
        step = int(match.group(3) or 1)
        if start < 1 or end < start or step < 1:
            raise ValueError(spec)
        indices += range(start, end + 1, step)
    return sorted(set(indices))


def _path(given: str | None, cwd: str, seq: int, index: int) -> str | None:
    if not given:
        return None
    path = given.replace("%J", str(seq)).replace("%I", str(index))
    path = os.path.join(cwd, path)
    if os.path.isdir(path) or given.endswith("/"):
        path = os.path.join(path, f"{seq}.out")
    return path


# -- bsub ------------------------------------------------------------------------------------------------


def refuse(message: str) -> Answer:
    return Answer(stderr=f"{message}. Job not submitted.\n", code=LSF_ERROR)


def bsub(engine: Engine, args: list[str]) -> Answer:
    try:
        options, operands = parse_options(args, BSUB_FLAGS)
    except ValueError as err:
        return refuse(f"{err}")
    if operands:
        script = Path(operands[0])
        if len(operands) == 1 and script.is_file():
            text = script.read_text()
        else:
            text = "#!/bin/sh\n" + shlex.join(operands) + "\n"
    else:
        text = sys.stdin.read()
        if not text.strip():
            return refuse("No command is specified")
    try:
        in_script, _ = parse_options(directives(text), BSUB_FLAGS)
    except ValueError as err:
        return refuse(f"#BSUB: {err}")
    settings: dict[str, str] = {}
    requirements: list[str] = []
    for option, value in [*in_script, *options]:  # the command line wins
        if option == "-R":
            requirements.append(value)
        else:
            settings[option] = value
    queue = settings.get("-q", "")
    queues = engine.control().get("queues", [DEFAULT_QUEUE])
    if queue and queue not in queues:
        return refuse(f"{queue}: No such queue")
    slots_text = settings.get("-n", "1").split(",")[0]
    if not slots_text.isdigit() or int(slots_text) < 1:
        return refuse("Bad argument for option -n")
    walltime = None
    if "-W" in settings:
        try:
            walltime = minutes(settings["-W"]) * float(engine.control().get("seconds_per_minute", 60))
        except ValueError:
            return refuse(f"Bad RUNLIMIT specification <{settings['-W']}>")
    first_command = next(
        (line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")), "STDIN"
    )
    name, indices = settings.get("-J", first_command[:60]), [0]
    array = re.fullmatch(r"(.*)\[([^\]]*)\]", name)
    if array:
        try:
            name, indices = array.group(1), index_list(array.group(2))
        except ValueError:
            return refuse(f"Bad job array index list <{array.group(2)}>")
        if not name:
            return refuse("Bad job name")
    cwd = os.getcwd()
    user = getpass.getuser()
    held = "-H" in settings
    slots = int(slots_text)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("LSB_", "LS_"))}
    # like LSF's job file: start in the submit directory (LSF starts jobs in the submission's cwd)
    body = f"cd {shlex.quote(cwd)} || exit 1\n" + text
    array_seq: int | None = None
    submitted: list[Job] = []
    for index in indices:

        def make(seq: int, index: int = index) -> Job:
            nonlocal array_seq
            if array_seq is None:
                array_seq = seq
            job_id = str(array_seq)
            output = _path(settings.get("-oo") or settings.get("-o"), cwd, array_seq, index)
            error = _path(settings.get("-eo") or settings.get("-e"), cwd, array_seq, index)
            if output is None:  # LSF mails the job report: the double keeps it in its state directory
                output = str(engine.root / "mail" / f"{seq}")
            element = f"{name}[{index}]" if index else name
            env = {
                **base_env,
                "LSB_JOBID": job_id,
                "LSB_JOBNAME": element,
                "LSB_JOBINDEX": str(index),
                "LSB_QUEUE": queue or DEFAULT_QUEUE,
                "LSB_SUB_HOST": engine.server,
                "LSB_HOSTS": " ".join([engine.server] * slots),
                "LSB_MCPU_HOSTS": f"{engine.server} {slots}",
                "LSB_DJOB_NUMPROC": str(slots),
                "LS_SUBCWD": cwd,
                "LSB_JOBFILENAME": str(engine.root / "spool" / f"{seq}.sh"),
            }
            if index:
                env["LSB_JOBINDEX_END"] = str(indices[-1])
            return Job(
                seq=seq,
                job_id=job_id,
                name=name,
                owner=user,
                queue=queue or DEFAULT_QUEUE,
                script="",
                workdir=cwd,
                output=output,
                error=None if error == output else error,
                env=env,
                state=HELD if held else QUEUED,
                walltime=walltime,
                walltime_exit=RUNLIMIT_STATUS,
                extra={
                    "index": index,
                    "slots": slots,
                    "requirements": requirements,
                    "gpu": settings.get("-gpu", ""),
                    "command": first_command,
                    "description": settings.get("-Jd", ""),
                    "submit_arguments": shlex.join(args),
                },
            )

        submitted.append(engine.submit(body, make))
    where = f"queue <{queue}>" if queue else f"default queue <{DEFAULT_QUEUE}>"
    return Answer(stdout=f"Job <{submitted[0].job_id}> is submitted to {where}.\n")


# -- bjobs -----------------------------------------------------------------------------------------------


def _array_id(job: Job) -> int:
    return int(job.job_id)


def _element(job: Job) -> str:
    index = int(job.extra.get("index", 0))
    return f"{job.job_id}[{index}]" if index else job.job_id


def find(engine: Engine, job_id: str) -> list[Job] | None:
    """The job (or array elements) an id names: ``1234``, ``1234[3]``, ``"1234[1-3]"``; None if unknown."""
    match = re.fullmatch(r"(\d+)(?:\[([^\]]+)\])?", job_id.strip())
    if not match:
        return None
    number = int(match.group(1))
    first = engine.load(number)
    if first is None or _array_id(first) != number:
        return None
    if not first.extra.get("index"):
        return [first]
    elements = [job for job in engine.jobs() if _array_id(job) == number]
    if match.group(2):
        try:
            wanted = set(index_list(match.group(2)))
        except ValueError:
            return None
        elements = [job for job in elements if job.extra.get("index") in wanted]
    return elements or None


def stat(engine: Engine, job: Job) -> str:
    shown = engine.control().get("stat") or {}
    override = shown.get(_element(job)) or shown.get(job.job_id)
    if override:
        return str(override)
    if job.state == QUEUED:
        return "PEND"
    if job.state == HELD:
        return "PSUSP"
    if job.state in (RUNNING, EXITING):
        return "USUSP" if job.extra.get("stopped") else "RUN"
    return "DONE" if job.exit_status == 0 and not job.deleted else "EXIT"


def exit_code(job: Job) -> str:
    if job.state != FINISHED or job.exit_status in (None, 0):
        return ""
    if job.exit_status == RUNLIMIT_STATUS:
        return str(RUNLIMIT_EXIT_CODE)
    status = int(job.exit_status)
    return str(status - 128) if status > 256 else str(status)  # 256 + N -> the shell's 128 + N


def exit_reason(job: Job) -> str:
    if job.state != FINISHED:
        return ""
    if job.exit_status == RUNLIMIT_STATUS:
        return TERM_RUNLIMIT
    if job.deleted:
        return TERM_OWNER
    return ""


def _time(t: float | None) -> str:
    return time.strftime("%b %d %H:%M", time.localtime(t)) if t else ""


def value(engine: Engine, job: Job, field: str) -> str:
    index = int(job.extra.get("index", 0))
    values = {
        "jobid": job.job_id,
        "jobindex": str(index),
        "stat": stat(engine, job),
        "user": job.owner,
        "queue": job.queue,
        "job_name": f"{job.name}[{index}]" if index else job.name,
        "exit_code": exit_code(job),
        "exit_reason": exit_reason(job),
        "from_host": engine.server,
        "exec_host": engine.server if job.started else "",
        "submit_time": _time(job.submitted),
        "start_time": _time(job.started),
        "finish_time": _time(job.ended),
        "slots": str(job.extra.get("slots", 1)),
        "command": str(job.extra.get("command", "")),
        "job_description": str(job.extra.get("description", "")),
    }
    return values[field]


def _columns(spec: str) -> list[str]:
    """The fields of a ``-o`` spec (``jobid stat:8 exit_code delimiter=','``)."""
    columns = []
    for word in spec.split():
        if word.startswith("delimiter="):
            continue
        name = word.split(":", 1)[0].lower()
        if name not in FIELDS:
            raise ValueError(name)
        columns.append(FIELDS[name])
    return columns


def bjobs(engine: Engine, args: list[str]) -> Answer:
    try:
        options, ids = parse_options(args, BJOBS_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"bjobs: {err}\n", code=LSF_ERROR)
    opts = dict(options)
    as_json = "-json" in opts
    if as_json and "-o" not in opts:
        return Answer(stderr="bjobs: -json can only be used with -o\n", code=LSF_ERROR)
    try:
        columns = _columns(opts["-o"]) if "-o" in opts else DEFAULT_COLUMNS
    except ValueError as err:
        return Answer(stderr=f"bjobs: Illegal field name <{err}> in the output format\n", code=LSF_ERROR)
    records: list[dict[str, str]] = []
    errors: list[str] = []
    if ids:
        for job_id in ids:
            found = find(engine, job_id)
            if found is None:
                records.append({"ERROR": f"Job <{job_id}> is not found"})
                errors.append(f"Job <{job_id}> is not found")
                continue
            records += [{c.upper(): value(engine, job, c) for c in columns} for job in found]
    else:
        user = opts.get("-u", getpass.getuser())
        chosen = [
            job
            for job in engine.jobs()
            if (job.state in ACTIVE or "-a" in opts or "-d" in opts)
            and not ("-d" in opts and job.state in ACTIVE)
            and (user == "all" or job.owner == user)
            and ("-J" not in opts or fnmatch.fnmatchcase(job.name, opts["-J"]))
            and ("-q" not in opts or job.queue == opts["-q"])
        ]
        if not chosen:
            if "-J" in opts:
                message = f"Job <{opts['-J']}> is not found"
            else:
                message = "No job found" if "-a" in opts else "No unfinished job found"
            return Answer(stderr=message + "\n", code=LSF_ERROR)
        records = [{c.upper(): value(engine, job, c) for c in columns} for job in chosen]
    code = LSF_ERROR if errors else 0
    if as_json:
        doc = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
        return Answer(stdout=json.dumps(doc, indent=2, separators=(",", ":")) + "\n", code=code)
    return Answer(stdout=_table(columns, [r for r in records if "ERROR" not in r], "-noheader" in opts),
                  stderr="".join(e + "\n" for e in errors), code=code)  # fmt: skip


def _table(columns: list[str], records: list[dict[str, str]], noheader: bool) -> str:
    if not records:
        return ""
    rows = [] if noheader else [[c.upper() for c in columns]]
    rows += [[r.get(c.upper()) or "-" for c in columns] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "".join(" ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in rows)


# -- bkill, bstop, bresume --------------------------------------------------------------------------------


def _targets(engine: Engine, ids: list[str]) -> list[tuple[str, list[Job] | None]]:
    if ids == ["0"]:  # every unfinished job of the user
        user = getpass.getuser()
        mine = [job for job in engine.jobs() if job.active and job.owner == user]
        return [(_element(job), [job]) for job in mine]
    return [(job_id, find(engine, job_id)) for job_id in ids]


def bkill(engine: Engine, args: list[str]) -> Answer:
    try:
        _, ids = parse_options(args, BKILL_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"bkill: {err}\n", code=LSF_ERROR)
    if not ids:
        return Answer(stderr="bkill: job ID or job name must be specified\n", code=LSF_ERROR)
    out, err = [], []
    for job_id, jobs in _targets(engine, ids):
        if not jobs:
            err.append(f"Job <{job_id}>: No matching job found")
            continue
        active = [job for job in jobs if job.active]
        if not active:
            err.append(f"Job <{job_id}>: Job has already finished")
            continue
        for job in active:
            if job.extra.get("stopped") and job.pgid:
                _signal(job.pgid, signal.SIGCONT)
            engine.delete(job.seq)
        out.append(f"Job <{job_id}> is being terminated")
    return Answer(stdout="".join(line + "\n" for line in out), stderr="".join(line + "\n" for line in err),
                  code=LSF_ERROR if err else 0)  # fmt: skip


def _suspend(engine: Engine, args: list[str], stop: bool) -> Answer:
    _, ids = parse_options(args, set())
    out, err = [], []
    for job_id, jobs in _targets(engine, ids):
        if not jobs or not any(job.active for job in jobs):
            err.append(
                f"Job <{job_id}>: No matching job found" if not jobs else f"Job <{job_id}>: Job has already finished"
            )
            continue
        for job in jobs:
            if stop and job.state == QUEUED:
                engine.update(job.seq, lambda j: setattr(j, "state", HELD) if j.state == QUEUED else None)
            elif not stop and job.state == HELD:
                engine.release(job.seq)
            elif job.state in (RUNNING, EXITING) and job.pgid:
                _signal(job.pgid, signal.SIGSTOP if stop else signal.SIGCONT)
                engine.update(job.seq, lambda j: j.extra.update(stopped=stop))
        out.append(f"Job <{job_id}> is being {'stopped' if stop else 'resumed'}")
    return Answer(stdout="".join(line + "\n" for line in out), stderr="".join(line + "\n" for line in err),
                  code=LSF_ERROR if err else 0)  # fmt: skip


def bstop(engine: Engine, args: list[str]) -> Answer:
    return _suspend(engine, args, stop=True)


def bresume(engine: Engine, args: list[str]) -> Answer:
    return _suspend(engine, args, stop=False)


def _signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


COMMANDS = {"bsub": bsub, "bjobs": bjobs, "bkill": bkill, "bstop": bstop, "bresume": bresume}
