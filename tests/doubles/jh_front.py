"""JH UniScheduler (景行资源管理与调度软件) front of the scheduler TEST DOUBLE: ``jsub``, ``jjobs``, ``jctrl``.

Formats, from the vendor's command manual (V6.0-V6.6: jsub, jjobs, jctrl, their examples) and, where
the manual says the commands behave like LSF's (``#BSUB`` lines are read too, the same job table),
from LSF's documented output; the published dpdispatcher 1.1.0 reads the same:

* ``jsub < script`` (or ``jsub script``, or ``jsub command args``) prints
  ``Job <123> is submitted to queue <normal>.``. ``#JSUB``/``#BSUB`` lines are read as options
  (only those the manual lists for scripts: ``-x -P -R -q -m -n -J -i -o -e -E -Ep -cwd -app
  -hosts -gpgpu -r -rn``; a repeated option keeps its FIRST value; the command line wins and
  ``Repeated argument <-J x> in script, ignored`` is said). ``-o``/``-e`` paths expand ``%J`` (job
  id) and ``%I`` (array index) and are relative to the working directory (``-cwd``, else the submit
  directory, where the job starts). A script read on standard input longer than 4096 bytes is
  refused (the manual's limit). ``-W`` (minutes, command line only) or the queue's run limit (the
  ``run_limit`` knob, seconds) kill the job (TERM_RUNLIMIT, exit code 140). The job inherits the
  submission environment plus ``JH_JOBID``, ``JH_QUEUE``, ``JH_JOBNAME``, ``JH_SUB_HOST``,
  ``JH_SUB_CWD``, ``JH_HOSTS``, ``JH_EXEC_USER``, ``JH_JOB_OUTFILE``;
* ``jjobs [id...]``: ``JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME`` and one
  row per job (EXEC_HOST empty while PEND, ``N*host`` per host, one continuation line per extra
  host; JOB_NAME cut to 10 characters as ``*`` + its end, unless ``-w``). Without ids: the user's
  unfinished jobs (``-a``: ended ones too, ``-d``: only those). An id the scheduler does not know
  (never, or no longer): ``Job <123> is not found`` on stderr and exit code 255, the known ids
  still listed. ``-l``: LSF's long form (``Job <id>, Job Name <...>, User <...>, ... Status
  <EXIT>, ...``, ``Exited with exit code 3.``, ``Completed <exit>; TERM_OWNER: job killed by
  owner.``, ``TERM_RUNLIMIT: job killed after reaching LSF run time limit.``). States: PEND,
  PSUSP (held), RUN, DONE (exit 0), EXIT;
* ``jctrl kill id...`` prints ``Job <123> is being terminated``; an ended job is ``Job <123>: Job
  has already finished``, an unknown one ``Job <123> is not found`` (exit 255).

The messages the manual does not show (a down scheduler, the pending-job limit, the 4096-byte
refusal, an unknown queue) are the double's own wording, shaped like LSF's.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import socket
import sys
import time

from doubles.engine import EXITING, FINISHED, HELD, QUEUED, RUNNING, Answer, Engine, Job

DEFAULT_QUEUE = "normal"
#: bytes a job script read on standard input may have (the vendor manual's limit)
SCRIPT_LIMIT = 4096
#: the exit status the engine records for a job killed at its run limit (shown as exit code 140)
RUNLIMIT_EXIT = -140
NOT_FOUND_CODE = 255

HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"

JSUB_FLAGS = {"-x", "-ux", "-H", "-I", "-IX", "-Is", "-r", "-rn", "-K", "-djm", "-pjm"}
#: the options a script's #JSUB lines may give (the manual's list)
SCRIPT_OPTIONS = {"-x", "-P", "-R", "-q", "-m", "-n", "-J", "-i", "-o", "-e", "-E", "-Ep", "-cwd", "-app"}
SCRIPT_OPTIONS |= {"-hosts", "-gpgpu", "-r", "-rn"}
JJOBS_FLAGS = {"-w", "-l", "-a", "-d", "-p", "-s", "-r", "-A", "-env", "-t", "-regexp"}


def limit_refusal(user: str | None = None) -> Answer:
    """What jsub answers when the user has as many pending jobs as allowed (a "not now")."""
    return Answer(
        stderr=f"User <{user or getpass.getuser()}>: Pending job threshold reached. Job not submitted.\n", code=255
    )


def down(engine: Engine, command: str) -> Answer:
    """A scheduler master that does not answer."""
    return Answer(
        stderr=f"{command}: Failed to connect to the scheduler master <{engine.server}>: Connection refused. "
        "Please try again later.\n",
        code=255,
    )


# -- jsub ----------------------------------------------------------------------------------------------


def parse_options(args: list[str], flags: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``[(option, value)]`` (LSF style: every option is a whole word) and the operands."""
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
    """The arguments of the ``#JSUB``/``#BSUB`` lines before the first command."""
    words: list[str] = []
    for line in script_text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#!"):
            continue
        if not stripped.startswith("#"):
            break
        if stripped.startswith(("#JSUB", "#BSUB")):
            words += shlex.split(stripped[5:], comments=True)
    return words


def _ptile(res_req: str) -> int | None:
    match = re.search(r"span\[\s*ptile\s*=\s*(\d+)\s*\]", res_req)
    return int(match.group(1)) if match else None


def jsub(engine: Engine, args: list[str]) -> Answer:
    warnings: list[str] = []
    try:
        options, operands = parse_options(args, JSUB_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"jsub: {err}\n", code=255)
    if operands and os.path.isfile(operands[0]) and len(operands) == 1:
        with open(operands[0]) as f:
            text = f.read()
        command = operands[0]
    elif operands:
        command = shlex.join(operands)
        text = f"#!/bin/sh\n{command}\n"
    else:
        text = sys.stdin.read()
        if len(text.encode()) > SCRIPT_LIMIT:
            return Answer(
                stderr=f"Job script is longer than {SCRIPT_LIMIT} bytes ({len(text.encode())}). Job not submitted.\n",
                code=255,
            )
        command = "; ".join(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    settings: dict[str, str] = {}
    for name, value in options:
        settings.setdefault(name, value)
    given = set(settings)
    try:
        in_script, _ = parse_options(directives(text), JSUB_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"jsub: {err} (#JSUB)\n", code=255)
    seen: set[str] = set()
    for name, value in in_script:
        if name not in SCRIPT_OPTIONS:
            warnings.append(f"Option <{name}> is not supported in job scripts, ignored")
        elif name in seen:
            warnings.append(f"Repeated argument <{name} {value}> in script, ignored")  # the first one counts
        elif name in given:
            warnings.append(f"Repeated argument <{name} {value}> in script, ignored")  # the command line wins
        else:
            settings[name] = value
        seen.add(name)
    control = engine.control()
    queue = settings.get("-q", DEFAULT_QUEUE)
    if queue not in control.get("queues", [DEFAULT_QUEUE]):
        return Answer(stderr=f"{queue}: No such queue. Job not submitted.\n", code=255)
    try:
        slots = int(settings.get("-n", "1").split(",")[0])
        walltime = float(settings["-W"]) * 60 if "-W" in settings else control.get("run_limit")
    except ValueError as err:
        return Answer(stderr=f"jsub: bad value: {err}. Job not submitted.\n", code=255)
    user = getpass.getuser()
    submit_cwd = os.getcwd()
    cwd = os.path.join(submit_cwd, settings["-cwd"]) if "-cwd" in settings else submit_cwd
    name = settings.get("-J", command)
    host = socket.gethostname()

    def make(seq: int) -> Job:
        job_id = str(seq)

        def path(given: str | None) -> str | None:
            return os.path.join(cwd, given.replace("%J", job_id).replace("%I", "0")) if given else None

        output = path(settings.get("-o"))
        error = path(settings.get("-e"))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("JH_", "DPD_DOUBLE_"))},
            "JH_JOBID": job_id,
            "JH_QUEUE": queue,
            "JH_JOBNAME": name,
            "JH_SUB_HOST": host,
            "JH_SUB_CWD": submit_cwd,
            "JH_HOSTS": f"{host} {slots}",
            "JH_EXEC_USER": user,
            **({"JH_JOB_OUTFILE": output} if output else {}),
        }
        return Job(
            seq=seq,
            job_id=job_id,
            name=name,
            owner=user,
            queue=queue,
            script="",
            workdir=submit_cwd,
            output=output or os.devnull,
            error=error,
            env=env,
            state=HELD if "-H" in settings else QUEUED,
            walltime=float(walltime) if walltime is not None else None,
            walltime_exit=RUNLIMIT_EXIT,
            extra={
                "cwd": cwd,
                "slots": slots,
                "ptile": _ptile(settings.get("-R", "")),
                "gpgpu": settings.get("-gpgpu"),
                "res_req": settings.get("-R"),
                "from_host": host,
                "command": command,
                "submit_arguments": shlex.join(args),
            },
        )

    job = engine.submit(text, make)
    return Answer(
        stdout=f"Job <{job.job_id}> is submitted to queue <{queue}>.\n",
        stderr="".join(line + "\n" for line in warnings),
    )


# -- jjobs ------------------------------------------------------------------------------------------


def stat(job: Job) -> str:
    if job.state == QUEUED:
        return "PEND"
    if job.state == HELD:
        return "PSUSP"
    if job.state in (RUNNING, EXITING):
        return "RUN"
    return "DONE" if job.exit_status == 0 and not job.deleted else "EXIT"


def _exec_hosts(job: Job) -> list[str]:
    """``N*host`` per execution host (one per ``ptile`` slots), empty while the job waits."""
    if job.started is None:
        return []
    host = socket.gethostname()
    slots = int(job.extra.get("slots") or 1)
    ptile = int(job.extra.get("ptile") or slots)
    counts = [min(ptile, slots - i) for i in range(0, slots, max(ptile, 1))]
    return [host if n == 1 else f"{n}*{host}" for n in counts]


def _cut(text: str, width: int, wide: bool) -> str:
    return text if wide or len(text) <= width else "*" + text[-(width - 1) :]


def _rows(job: Job, wide: bool) -> list[str]:
    hosts = _exec_hosts(job)
    submitted = time.strftime("%b %e %H:%M", time.localtime(job.submitted))
    first = (
        f"{job.job_id:<7} {_cut(job.owner, 7, wide):<7} {stat(job):<5} {_cut(job.queue, 10, wide):<10} "
        f"{_cut(str(job.extra.get('from_host', '')), 11, wide):<11} {_cut(hosts[0] if hosts else '', 11, wide):<11} "
        f"{_cut(job.name, 10, wide):<10} {submitted}"
    )
    return [first] + [" " * 45 + _cut(h, 11, wide) for h in hosts[1:]]  # under EXEC_HOST


def _ctime(t: float | None) -> str:
    return time.strftime("%a %b %e %H:%M:%S", time.localtime(t or 0))


def _long(job: Job) -> str:
    lines = [
        f"Job <{job.job_id}>, Job Name <{job.name}>, User <{job.owner}>, Project <default>, Status <{stat(job)}>, "
        f"Queue <{job.queue}>, Command <{job.extra.get('command', '')}>",
        f"{_ctime(job.submitted)}: Submitted from host <{job.extra.get('from_host', '')}>, CWD <{job.workdir}>, "
        f"Output File <{job.output}>{f', Error File <{job.error}>' if job.error else ''}, "
        f"{job.extra.get('slots', 1)} Processors Requested;",
    ]
    if job.started is not None:
        lines.append(
            f"{_ctime(job.started)}: Started on <{' '.join(_exec_hosts(job))}>, Execution CWD <{job.extra.get('cwd', '')}>;"
        )
    if job.state == FINISHED:
        status = job.exit_status
        if job.deleted and status is None:
            lines.append(f"{_ctime(job.ended)}: Exited; job has been forced to exit with exit code 2.")
        elif status == RUNLIMIT_EXIT:
            lines.append(f"{_ctime(job.ended)}: Exited with exit code 140. The CPU time used is 0.0 seconds.")
        elif status is not None and status >= 256:
            lines.append(f"{_ctime(job.ended)}: Exited by signal {status - 256}. The CPU time used is 0.0 seconds.")
        elif status:
            lines.append(f"{_ctime(job.ended)}: Exited with exit code {status}. The CPU time used is 0.0 seconds.")
        else:
            lines.append(f"{_ctime(job.ended)}: Done successfully. The CPU time used is 0.0 seconds.")
        if job.deleted:
            lines.append(f"{_ctime(job.ended)}: Completed <exit>; TERM_OWNER: job killed by owner.")
        elif status == RUNLIMIT_EXIT:
            lines.append(
                f"{_ctime(job.ended)}: Completed <exit>; TERM_RUNLIMIT: job killed after reaching LSF run time limit."
            )
        else:
            lines.append(f"{_ctime(job.ended)}: Completed <{'done' if status == 0 else 'exit'}>.")
    return "\n".join(lines) + "\n"


def jjobs(engine: Engine, args: list[str]) -> Answer:
    try:
        options, ids = parse_options(args, JJOBS_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"jjobs: {err}\n", code=255)
    opts = dict(options)
    if "-o" in opts:
        return Answer(stderr="jjobs: -o is not provided by the test double\n", code=255)
    user = getpass.getuser()
    users = None if opts.get("-u") == "all" else {opts.get("-u", user)}
    found: list[Job] = []
    missing: list[str] = []
    if ids:
        for job_id in ids:
            job = engine.load(int(job_id)) if job_id.isdigit() else None
            if job is None:
                missing.append(job_id)
            else:
                found.append(job)
    else:
        for job in engine.jobs():
            if users is not None and job.owner not in users:
                continue
            ended = job.state == FINISHED
            if ("-a" in opts) or ("-d" in opts and ended) or (not ended and "-d" not in opts):
                if "-r" in opts and job.state not in (RUNNING, EXITING):
                    continue
                if "-p" in opts and job.state != QUEUED:
                    continue
                if "-q" in opts and job.queue != opts["-q"]:
                    continue
                if "-J" in opts and job.name != opts["-J"]:
                    continue
                found.append(job)
    stderr = "".join(f"Job <{job_id}> is not found\n" for job_id in missing)
    if not ids and not found:
        return Answer(stderr="No unfinished job found\n" if "-a" not in opts else "No job found\n")
    if "-l" in opts:
        text = ("-" * 78 + "\n").join(_long(job) + "\n" for job in found)
    else:
        rows = [row for job in found for row in _rows(job, "-w" in opts)]
        text = "\n".join([HEADER, *rows]) + "\n" if rows else ""
    return Answer(stdout=text, stderr=stderr, code=NOT_FOUND_CODE if missing else 0)


# -- jctrl ---------------------------------------------------------------------------------------------


def jctrl(engine: Engine, args: list[str]) -> Answer:
    if not args or args[0] != "kill":
        sub = args[0] if args else ""
        return Answer(stderr=f"jctrl: sub-command <{sub}> is not provided by the test double (only kill)\n", code=255)
    try:
        _, ids = parse_options(args[1:], {"-f"})
    except ValueError as err:
        return Answer(stderr=f"jctrl kill: {err}\n", code=255)
    if not ids:
        return Answer(stderr="Usage: jctrl kill [-f] jobId ...\n", code=255)
    said, refused, code = [], [], 0
    for job_id in ids:
        job = engine.load(int(job_id)) if job_id.isdigit() else None
        if job is None:
            refused.append(f"Job <{job_id}> is not found")
            code = NOT_FOUND_CODE
        elif not job.active:
            refused.append(f"Job <{job_id}>: Job has already finished")
            code = NOT_FOUND_CODE
        else:
            engine.delete(job.seq)
            said.append(f"Job <{job_id}> is being terminated")
    return Answer(
        stdout="".join(line + "\n" for line in said), stderr="".join(line + "\n" for line in refused), code=code
    )


COMMANDS = {"jsub": jsub, "jjobs": jjobs, "jctrl": jctrl}
