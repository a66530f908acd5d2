"""Fujitsu Technical Computing Suite (Fugaku) front of the scheduler TEST DOUBLE: ``pjsub``, ``pjstat``, ``pjdel``.

Formats, from the Fugaku User's Guide (R-CCS, "Job execution": 5.12 Displaying a job status, 5.16
Checking when a job ends abnormally) and from what tools that drive PJM parse (Autosubmit's PJM
platform and its tests, xsub, the published dpdispatcher 1.1.0):

* ``pjsub [options] script`` prints ``[INFO] PJM 0000 pjsub Job 12345 submitted.`` on stdout.
  ``#PJM`` lines before the first command are read as options; the command line wins. Reads
  ``-L key=value[,...]`` (``node``, ``elapse`` (enforced), ``rscgrp``, ``rscunit``), ``--mpi``,
  ``-N``, ``-o``, ``-e``, ``-j``, ``-x VAR=value``, ``-X``, ``-g``, ``-s``/``-S``. Defaults: job
  name = the script's file name, output ``<name>.<id>.out`` and ``<name>.<id>.err`` in the submit
  directory, where the job also starts (``PJM_O_WORKDIR``). Refusals (stderr, exit 1):
  ``[ERR.] PJM 0057 pjsub node=32 is greater than the upper limit (24).`` (a node count over
  ``max_node``), an unknown resource group (``rscgrps`` knob); canned: :func:`limit_refusal`
  (job count per user: "not now") and :func:`staging_error` (printed on STDOUT with exit 0, as
  the K computer's pjsub did: the caller must look for the id, not trust the exit code);
* ``pjstat [ids]`` lists the user's jobs that have not ended, ``pjstat -H [ids]`` those that ended
  (history), in the documented layout: a header ``JOB_ID JOB_NAME MD ST USER START_DATE
  ELAPSE_LIM NODE_REQUIRE VNODE CORE V_MEM`` and one row per job, ``START_DATE`` being two words
  (``11/17 09:01:41``), so ST is the 4th field (what 1.1.0 reads from the last line). States:
  ACC (just accepted), QUE, HLD, RUN, RNO (ending), and after the end EXT (ended) or CCL
  (cancelled with pjdel). An id not listed prints nothing; a malformed id is
  ``[ERR.] PJM 0211 pjstat Invalid jobid: x.`` (exit 1). ``-s``/``-S`` print one block per job of
  ``NAME : value`` lines (``STATE``, ``LAST STATE``, ``PJM CODE``, ``EXIT CODE``, ``SIGNAL NO``,
  ``REASON``, ...: the job statistics items); ``--choose jid,st,ec,pc,sn,ermsg,...`` prints those
  columns (``JOB_ID ST EC PC SN REASON``), ``--filter jid=1+2`` restricts the ids; ``-v`` is
  accepted but adds none of its extra columns (use ``--choose``);
* ``pjdel id...`` prints ``[INFO] PJM 0100 pjdel Job 12345 canceled.`` per job.

PJM codes of ended jobs (the User's Guide's table): 0 normal end, 1 cancelled by pjdel, 11 killed
at the elapse limit (``REASON`` ``ELAPSE LIMIT EXCEEDED``, signal 9). ``EXIT CODE`` is the script's
exit code, ``-`` for a job killed by a signal (``SIGNAL NO``) or never run.

The message texts the documentation does not show (a down job manager, an unknown resource group,
the job count limit, pjdel of an ended job) keep PJM's documented shape
``[ERR.] PJM <code> <command> <text>``; their codes and texts are the double's own.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import socket
import time
from pathlib import Path

from doubles.engine import EXITING, FINISHED, HELD, QUEUED, RUNNING, Answer, Engine, Job

DEFAULT_RSCGRP = "small"
DEFAULT_RSCGRPS = ["small", "large"]
#: nodes a job may ask for (pjsub refuses more with PJM 0057)
DEFAULT_MAX_NODE = 384
#: the exit status the engine records for a job killed at its elapse limit (PJM CODE 11)
ELAPSE_EXIT = -11
#: seconds a new job shows as ACC before QUE
ACCEPT_SECONDS = 0.3

HEADER = "JOB_ID     JOB_NAME   MD ST  USER     START_DATE      ELAPSE_LIM NODE_REQUIRE    VNODE  CORE V_MEM"

#: pjsub options that take no argument (short and long)
PJSUB_FLAGS = {"-j", "-X", "-s", "-S", "-z", "--no-check-directory", "--interact", "--step", "--bulk", "--restart"}
PJSTAT_FLAGS = {"-H", "-v", "-s", "-S", "-E", "-A", "-X", "--data", "-w"}
#: --choose keys and their column names
CHOOSE = {
    "jid": "JOB_ID",
    "jnam": "JOB_NAME",
    "md": "MD",
    "st": "ST",
    "usr": "USER",
    "sdt": "START_DATE",
    "elpl": "ELAPSE_LIM",
    "nnumr": "NODE_REQUIRE",
    "ec": "EC",
    "pc": "PC",
    "sn": "SN",
    "ermsg": "REASON",
}


def limit_refusal() -> Answer:
    """What pjsub answers when the user may not submit more jobs now (a "not now")."""
    return Answer(stderr="[ERR.] PJM 0057 pjsub job exceeds the number of jobs per user\n", code=1)


def staging_error() -> Answer:
    """A refusal printed on stdout with exit code 0 (as the K computer's pjsub printed it)."""
    return Answer(
        stdout="[ERR.] PJM 0007 pjsub Staging option error (3).\n"
        "Refer to the staging information file. (J5333b14881e31ebcd2000001.sh.s2366652)\n",
        code=0,
    )


def down(engine: Engine, command: str) -> Answer:
    """A job manager that does not answer."""
    return Answer(
        stderr=f"[ERR.] PJM 0003 {command} Cannot connect to the job manager (pjmd): Connection refused.\n", code=1
    )


# -- pjsub ---------------------------------------------------------------------------------------


def parse_options(args: list[str], flags: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``[(option, value)]`` (``-L x`` and ``-Lx``, ``--mpi x`` and ``--mpi=x``) and the operands."""
    options: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return options, args[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return options, args[i:]
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            options.append((name, value))
        elif arg in flags:
            options.append((arg, ""))
        elif not arg.startswith("--") and len(arg) > 2:
            options.append((arg[:2], arg[2:]))
        elif i + 1 < len(args):
            options.append((arg, args[i + 1]))
            i += 1
        else:
            raise ValueError(f"option requires an argument: {arg}")
        i += 1
    return options, []


def directives(script_text: str) -> list[str]:
    """The arguments of the ``#PJM`` lines before the first command."""
    words: list[str] = []
    for line in script_text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#!"):
            continue
        if not stripped.startswith("#"):
            break
        if stripped.startswith("#PJM"):
            words += shlex.split(stripped[4:], comments=True)
    return words


def seconds(text: str) -> float:
    """``[[H:]M:]S`` (or a number of seconds) -> seconds."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part or 0)
    return total


def _hhhhmmss(secs: float | None) -> str:
    if secs is None:
        return "-"
    secs = int(secs)
    return f"{secs // 3600:04d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def _err(command: str, code: int, text: str) -> Answer:
    return Answer(stderr=f"[ERR.] PJM {code:04d} {command} {text}\n", code=1)


def pjsub(engine: Engine, args: list[str]) -> Answer:
    try:
        options, operands = parse_options(args, PJSUB_FLAGS)
    except ValueError as err:
        return _err("pjsub", 4, f"{err}.")
    if not operands:
        return _err("pjsub", 4, "Reading a job script from standard input is not supported by the test double.")
    script = Path(operands[0])
    try:
        text = script.read_text()
    except OSError:
        return _err("pjsub", 5, f"Job script ({script}) is not found.")
    try:
        in_script, _ = parse_options(directives(text), PJSUB_FLAGS)
    except ValueError as err:
        return _err("pjsub", 4, f"{err} (#PJM).")
    resources: dict[str, str] = {}
    mpi: dict[str, str] = {}
    settings: dict[str, str] = {}
    variables: dict[str, str] = {}
    for name, value in [*in_script, *options]:  # the command line wins
        if name in ("-L", "--rsc-list"):
            for item in value.split(","):
                key, _, val = item.partition("=")
                resources[key.strip()] = val.strip()
        elif name == "--mpi":
            for item in value.split(","):
                key, _, val = item.partition("=")
                mpi[key.strip()] = val.strip()
        elif name == "-x":
            for item in value.split(","):
                key, eq, val = item.partition("=")
                variables[key] = val if eq else os.environ.get(key, "")
        elif name in ("--interact", "--bulk", "--step"):
            return _err("pjsub", 70, f"{name} jobs are not supported by the test double.")
        else:
            settings[name] = value
    rscgrp = resources.get("rscgrp", DEFAULT_RSCGRP)
    control = engine.control()
    if rscgrp not in control.get("rscgrps", DEFAULT_RSCGRPS):
        return _err("pjsub", 41, f"rscgrp={rscgrp} is not a resource group you may use.")
    node = resources.get("node", "1")
    count = re.match(r"\d+", node)  # node=N or node=NxMxL (a shape)
    node_count = int(count.group(0)) if count else 0
    if node_count < 1:
        return _err("pjsub", 57, f"node={node} is invalid.")
    max_node = int(control.get("max_node", DEFAULT_MAX_NODE))
    if node_count > max_node:
        return _err("pjsub", 57, f"node={node_count} is greater than the upper limit ({max_node}).")
    elapse = resources.get("elapse")
    try:
        walltime = seconds(elapse) if elapse else None
    except ValueError:
        return _err("pjsub", 57, f"elapse={elapse} is invalid.")
    name = settings.get("-N", script.name)
    cwd = os.getcwd()
    user = getpass.getuser()
    home = os.environ.get("HOME", "/")
    joined = "-j" in settings

    def make(seq: int) -> Job:
        job_id = str(seq)
        output = os.path.join(cwd, settings.get("-o") or f"{name}.{job_id}.out")
        error: str | None = os.path.join(cwd, settings.get("-e") or f"{name}.{job_id}.err")
        if joined:
            error = None
        env = {
            "HOME": home,
            "LOGNAME": user,
            "USER": user,
            "SHELL": "/bin/bash",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **({k: v for k, v in os.environ.items() if not k.startswith("PJM_")} if "-X" in settings else {}),
            "PJM_JOBID": job_id,
            "PJM_JOBNAME": name,
            "PJM_O_WORKDIR": cwd,
            "PJM_O_HOME": home,
            "PJM_O_LOGNAME": user,
            "PJM_O_PATH": os.environ.get("PATH", ""),
            "PJM_O_HOST": socket.gethostname(),
            "PJM_NODE": str(node_count),
            **({"PJM_PROC_BY_NODE": mpi["max-proc-per-node"]} if "max-proc-per-node" in mpi else {}),
            **({"PJM_MPI_PROC": mpi["proc"]} if "proc" in mpi else {}),
            **variables,
        }
        return Job(
            seq=seq,
            job_id=job_id,
            name=name,
            owner=user,
            queue=rscgrp,
            script="",
            workdir=cwd,
            output=output,
            error=error,
            env=env,
            state=QUEUED,
            walltime=walltime,
            walltime_exit=ELAPSE_EXIT,
            extra={"cwd": cwd, "resources": resources, "mpi": mpi, "node": node, "submit_arguments": shlex.join(args)},
        )

    job = engine.submit(text, make)
    return Answer(stdout=f"[INFO] PJM 0000 pjsub Job {job.job_id} submitted.\n")


# -- what pjstat shows ----------------------------------------------------------------------------


def state(job: Job) -> str:
    """The ST column."""
    if job.state == QUEUED:
        return "ACC" if time.time() - job.submitted < ACCEPT_SECONDS else "QUE"
    if job.state == HELD:
        return "HLD"
    if job.state == RUNNING:
        return "RUN"
    if job.state == EXITING:
        return "RNO"
    return "CCL" if job.deleted else "EXT"


def pjm_code(job: Job) -> str:
    if job.state != FINISHED:
        return "-"
    if job.deleted:
        return "1"
    return "11" if job.exit_status == ELAPSE_EXIT else "0"


def exit_code(job: Job) -> str:
    status = job.exit_status
    return str(status) if job.state == FINISHED and status is not None and 0 <= status < 256 else "-"


def signal_no(job: Job) -> str:
    status = job.exit_status
    if job.state != FINISHED or status is None:
        return "-"
    if status == ELAPSE_EXIT:
        return "9"
    return str(status - 256) if status >= 256 else "-"


def reason(job: Job) -> str:
    if job.state != FINISHED:
        return "-"
    if job.exit_status == ELAPSE_EXIT:
        return "ELAPSE LIMIT EXCEEDED"
    return "-" if job.deleted else "COMPLETED"


def _date(t: float | None) -> str:
    return time.strftime("%m/%d %H:%M:%S", time.localtime(t)) if t else "-"


def _row(job: Job) -> str:
    return (
        f"{job.job_id:<10} {job.name[:10]:<10} NM {state(job):<3} {job.owner[:8]:<8} {_date(job.started):<15} "
        f"{_hhhhmmss(job.walltime):<10} {job.extra.get('node', '1')!s:<15} -      -    -"
    )


def _value(job: Job, key: str) -> str:
    values = {
        "jid": job.job_id,
        "jnam": job.name,
        "md": "NM",
        "st": state(job),
        "usr": job.owner,
        "sdt": _date(job.started),
        "elpl": _hhhhmmss(job.walltime),
        "nnumr": str(job.extra.get("node", "1")),
        "ec": exit_code(job),
        "pc": pjm_code(job),
        "sn": signal_no(job),
        "ermsg": reason(job),
    }
    return values[key]


def _last_state(job: Job) -> str:
    if job.state != FINISHED:
        return "-"
    return "RUN" if job.started is not None else "QUE"


def _detail(job: Job) -> str:
    items = [
        ("JOB ID", job.job_id),
        ("JOB NAME", job.name),
        ("JOB TYPE", "JOB"),
        ("JOB MODEL", "NM"),
        ("RETRY NUM", "0"),
        ("SUB JOB NUM", "-"),
        ("USER", job.owner),
        ("RESOURCE UNIT", "rscunit_ft01"),
        ("RESOURCE GROUP", job.queue),
        ("STATE", state(job)),
        ("LAST STATE", _last_state(job)),
        ("PJM CODE", pjm_code(job)),
        ("EXIT CODE", exit_code(job)),
        ("SIGNAL NO", signal_no(job)),
        ("REASON", reason(job)),
        ("JOB START DATE", _date(job.started)),
        ("JOB END DATE", _date(job.ended)),
        ("ELAPSE LIMIT", _hhhhmmss(job.walltime)),
        ("NODE NUM (REQUIRE)", str(job.extra.get("node", "1"))),
    ]
    return "".join(f" {key:<43} : {value}\n" for key, value in items)


def pjstat(engine: Engine, args: list[str]) -> Answer:
    try:
        options, operands = parse_options(args, PJSTAT_FLAGS)
    except ValueError as err:
        return _err("pjstat", 4, f"{err}.")
    opts = dict(options)
    history = "-H" in opts
    wanted: list[str] = []
    for word in operands:
        if history and re.fullmatch(r"day=\d+", word):  # pjstat -H day=N: the last N days
            continue
        wanted.append(word)
    if "--filter" in opts:
        for item in opts["--filter"].split(":"):
            key, _, value = item.partition("=")
            if key == "jid":
                wanted += [v for v in value.split("+") if v]
    for job_id in wanted:
        if not re.fullmatch(r"\d+(?:\[\d+\])?", job_id):
            return _err("pjstat", 211, f"Invalid jobid: {job_id}.")
    user = getpass.getuser()
    seqs = {int(job_id.split("[", 1)[0]) for job_id in wanted}
    found = [
        job
        for job in engine.jobs()
        if (job.state == FINISHED) == history and (job.seq in seqs if wanted else job.owner == user)
    ]
    if "-s" in opts or "-S" in opts:
        return Answer(stdout="\n".join(_detail(job) for job in found))
    if "--choose" in opts:
        keys = [key.strip() for key in opts["--choose"].split(",") if key.strip()]
        unknown = [key for key in keys if key not in CHOOSE]
        if unknown:
            return _err("pjstat", 4, f"--choose {','.join(unknown)} is not supported by the test double.")
        widths = [max(len(CHOOSE[key]), *(len(_value(job, key)) for job in found)) for key in keys]
        lines = [" ".join(f"{CHOOSE[key]:<{w}}" for key, w in zip(keys, widths)).rstrip()]
        lines += [" ".join(f"{_value(job, key):<{w}}" for key, w in zip(keys, widths)).rstrip() for job in found]
        return Answer(stdout="\n".join(lines) + "\n")
    return Answer(stdout="\n".join([HEADER, *(_row(job) for job in found)]) + "\n")


# -- pjdel ---------------------------------------------------------------------------------------------


def pjdel(engine: Engine, args: list[str]) -> Answer:
    try:
        _, ids = parse_options(args, {"-v"})
    except ValueError as err:
        return _err("pjdel", 4, f"{err}.")
    if not ids:
        return Answer(stderr="Usage: pjdel [-v] jobid [jobid ...]\n", code=1)
    said, refused, code = [], [], 0
    for job_id in ids:
        job = engine.load(int(job_id)) if job_id.isdigit() else None
        if job is None or not job.active:
            refused.append(f"[ERR.] PJM 0172 pjdel Job {job_id} does not exist or has already ended.")
            code = 1
            continue
        engine.delete(job.seq)
        said.append(f"[INFO] PJM 0100 pjdel Job {job_id} canceled.")
    return Answer(
        stdout="".join(line + "\n" for line in said), stderr="".join(line + "\n" for line in refused), code=code
    )


COMMANDS = {"pjsub": pjsub, "pjstat": pjstat, "pjdel": pjdel}
