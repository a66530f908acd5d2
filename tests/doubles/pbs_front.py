"""PBS Professional / OpenPBS front of the scheduler TEST DOUBLE: ``qsub``, ``qstat``, ``qdel``, ``qselect``.

It answers in the formats PBS Pro documents (and OpenPBS's sources print):

* ``qsub [options] script`` prints ``<seq>.<server>`` (``1234.pbs01``); ``#PBS`` directives at
  the top of the script are read like options, the command line wins; a job name must start
  with a letter (``qsub: illegal -N value``); an unknown queue is refused
  (``qsub: Unknown queue``, exit 170);
* ``qstat -f -F json [-x] id...`` prints ``{"timestamp":..,"pbs_version":..,"pbs_server":..,
  "Jobs":{"1234.pbs01":{"Job_Name":..,"job_state":"Q",...,"Exit_status":N}}}`` (4-space
  indent, no space after the colon, as PBS Pro 19-2021 print it; no ``Jobs`` key when no job
  was found); ``-f`` alone prints the ``Job Id:`` / ``    attr = value`` text; no ``-f`` the
  one-line-per-job table. An unknown id prints ``qstat: Unknown Job Id <id>`` on stderr and the
  exit code is 153 (PBSE_UNKJOBID & 0xff) while the known ids are still printed; without
  ``-x`` a finished job is ``qstat: <id> Job has finished, use -x or -H to obtain historical
  job information`` (exit 35);
* ``qdel id...``: ``qdel: Unknown Job Id <id>`` (153), ``qdel: Job has finished <id>`` (35);
* ``qselect [-N name] [-u user] [-x] [-s states]`` prints the matching ids, one per line.

Job arrays (``qsub -J X-Y[:Z]``, ``1234[].pbs01``, ``qstat -t`` subjobs, state ``B``) are in
``pbs_arrays.py``.

With ``job_history_enable`` off (``configure(job_history_enable=False)``), ``qstat -x`` answers
``qstat: PBS is not configured to maintain job history <id>`` for every id and exits 0, and a
finished job is an unknown id.

States: Q (queued), H (held), R (running), E (exiting), F (finished, with ``-x``). Exit_status
is the script's exit code, 256 + N for a job killed by signal N (``qdel``: 271), -29
(JOB_EXEC_KILL_WALLTIME) for a job killed at its ``-l walltime``; a job deleted before it ran
has none.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import socket
import time
from pathlib import Path

from doubles import pbs_arrays
from doubles.engine import ACTIVE, EXITING, FINISHED, HELD, QUEUED, RUNNING, Answer, Engine, Job

PBS_VERSION = "2021.1.3.20220217134230"
DEFAULT_QUEUE = "workq"
#: PBS error codes (pbs_error.h) as a command's exit code (& 0xff)
UNKNOWN_JOB = 15001 & 0xFF  # 153
HISTORY_JOB = 15139 & 0xFF  # 35, "Job has finished"
UNKNOWN_QUEUE = 15018 & 0xFF  # 170
ENTITY_LIMIT = 15142 & 0xFF  # 38, PBSE_ENTLIMCT
MAX_QUEUED = 15046 & 0xFF  # 198, PBSE_MAXQUED
#: JOB_EXEC_KILL_WALLTIME
WALLTIME_EXIT = -29

LETTERS = {QUEUED: "Q", HELD: "H", RUNNING: "R", EXITING: "E", FINISHED: "F"}
SUBSTATES = {QUEUED: 10, HELD: 20, RUNNING: 42, EXITING: 50, FINISHED: 92}

#: options of qsub that take no argument
QSUB_FLAGS = set("hIVXz")


def limit_refusal(queue: str = DEFAULT_QUEUE) -> Answer:
    """What qsub answers when the user may not queue more jobs (a "not now")."""
    return Answer(stderr=f"qsub: would exceed queue {queue}'s per-user limit of jobs in 'Q' state\n", code=ENTITY_LIMIT)


def queue_full(queue: str = DEFAULT_QUEUE) -> Answer:
    return Answer(stderr=f"qsub: Maximum number of jobs already in queue {queue}\n", code=MAX_QUEUED)


def down(engine: Engine, command: str) -> Answer:
    """A server that does not answer (pbs_server stopped or unreachable)."""
    if command == "qdel":
        return Answer(stderr=f"Couldn't connect to cluster: {engine.server}\n", code=111)
    code = 255 if command in ("qstat", "qselect") else 111
    return Answer(
        stderr=f"Connection refused\n{command}: cannot connect to server {engine.server} (errno=111)\n", code=code
    )


# -- qsub ------------------------------------------------------------------------------------------


def parse_options(args: list[str], flags: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """getopt-style: ``[(option, value)]`` and the operands (from the first non-option on)."""
    options: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return options, args[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return options, args[i:]
        letter, rest = arg[1], arg[2:]
        if letter in flags:
            options.append((letter, ""))
            for extra in rest:  # -hV
                options.append((extra, ""))
        elif rest:
            options.append((letter, rest))
        elif i + 1 < len(args):
            options.append((letter, args[i + 1]))
            i += 1
        else:
            raise ValueError(f"option requires an argument -- '{letter}'")
        i += 1
    return options, []


def directives(script_text: str) -> list[str]:
    """The arguments of the ``#PBS`` lines before the first command of the script."""
    words: list[str] = []
    for line in script_text.splitlines()[1:] if script_text.startswith("#!") else script_text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if stripped.startswith("#PBS"):
            words += shlex.split(stripped[4:], comments=True)
    return words


def seconds(text: str) -> float:
    """``[[HH:]MM:]SS`` -> seconds."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part or 0)
    return total


def qsub(engine: Engine, args: list[str]) -> Answer:
    try:
        options, operands = parse_options(args, QSUB_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"qsub: {err}\nusage: qsub [options] script\n", code=2)
    if not operands:
        return Answer(stderr="qsub: reading a script from standard input is not supported by the test double\n", code=2)
    script = Path(operands[0])
    try:
        text = script.read_text()
    except OSError:
        return Answer(stderr=f"qsub: script file:: No such file or directory\n{script}\n", code=2)
    try:
        in_script, _ = parse_options(directives(text), QSUB_FLAGS)
    except ValueError as err:
        return Answer(stderr=f"qsub: directive error: {err}\n", code=2)
    settings: dict[str, str] = {}
    resources: dict[str, str] = {}
    variables: dict[str, str] = {}
    export_all = hold = False
    for letter, value in [*in_script, *options]:  # the command line wins
        if letter == "l":
            for item in value.split(","):
                key, _, val = item.partition("=")
                resources[key] = val
        elif letter == "v":
            for item in value.split(","):
                key, eq, val = item.partition("=")
                variables[key] = val if eq else os.environ.get(key, "")
        elif letter == "V":
            export_all = True
        elif letter == "h":
            hold = True
        elif letter == "I":
            return Answer(stderr="qsub: interactive jobs are not supported by the test double\n", code=2)
        else:
            settings[letter] = value
    name = settings.get("N", script.name)
    if not re.fullmatch(r"[A-Za-z][^\s@]{0,235}", name):
        return Answer(stderr="qsub: illegal -N value\n", code=2)
    queue = settings.get("q", DEFAULT_QUEUE).split("@", 1)[0] or DEFAULT_QUEUE
    if queue not in engine.control().get("queues", [DEFAULT_QUEUE]):
        return Answer(stderr="qsub: Unknown queue\n", code=UNKNOWN_QUEUE)
    join = settings.get("j", "n")
    if join not in ("oe", "eo", "n"):
        return Answer(stderr="qsub: illegal -j value\n", code=2)
    indices: list[int] | None = None
    if "J" in settings:  # a job array (pbs_arrays.py)
        indices = pbs_arrays.parse_range(settings["J"])
        if indices is None:
            return Answer(stderr="qsub: illegal -J value\n", code=2)
        if len(indices) > int(engine.control().get("max_array_size", pbs_arrays.MAX_ARRAY_SIZE)):
            return Answer(stderr="qsub: Array job exceeds server or queue size limit\n", code=2)
    cwd = os.getcwd()
    user = getpass.getuser()
    home = os.environ.get("HOME", "/")
    walltime = resources.get("walltime")
    argv_text = " ".join(shlex.quote(a) for a in args)

    first_seq: list[int] = []  # an array's number: its first subjob's

    def make(seq: int, index: int | None = None) -> Job:
        number = first_seq[0] if first_seq else seq
        first_seq.append(number)
        job_id = f"{seq}.{engine.server}" if index is None else f"{number}[{index}].{engine.server}"
        tag = "" if index is None else "." + pbs_arrays.INDEX_TAG
        template = _path(settings.get("o"), cwd, f"{name}.o{number}{tag}")
        output = template.replace(pbs_arrays.INDEX_TAG, str(index))
        error: str | None = _path(settings.get("e"), cwd, f"{name}.e{number}{tag}").replace(
            pbs_arrays.INDEX_TAG, str(index)
        )
        if join == "oe":
            error = None
        elif join == "eo":
            output, error = error or output, None
        array: dict[str, object] = {}
        if index is not None:
            array = {
                "array_seq": number,
                "array_id": f"{number}[].{engine.server}",
                "index": index,
                "array_range": settings["J"].split("%", 1)[0],
                "array_step": indices[1] - indices[0] if indices and len(indices) > 1 else 1,
                "output_template": template,
            }
        env = {
            "HOME": home,
            "LOGNAME": user,
            "USER": user,
            "SHELL": "/bin/bash",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PBS_JOBID": job_id,
            "PBS_JOBNAME": name,
            "PBS_QUEUE": queue,
            "PBS_ENVIRONMENT": "PBS_BATCH",
            "PBS_JOBDIR": home,
            "PBS_O_WORKDIR": cwd,
            "PBS_O_HOME": home,
            "PBS_O_LOGNAME": user,
            "PBS_O_PATH": os.environ.get("PATH", ""),
            "PBS_O_SHELL": os.environ.get("SHELL", "/bin/bash"),
            "PBS_O_HOST": engine.server,
            "PBS_O_QUEUE": queue,
            "PBS_O_SYSTEM": "Linux",
            **({k: v for k, v in os.environ.items() if not k.startswith("PBS_")} if export_all else {}),
            **variables,
        }
        if index is not None:
            env.update(PBS_ARRAY_INDEX=str(index), PBS_ARRAY_ID=str(array["array_id"]))
        return Job(
            seq=seq,
            job_id=job_id,
            name=name,
            owner=user,
            queue=queue,
            script="",
            workdir=cwd,
            output=output,
            error=error,
            env=env,
            state=HELD if hold else QUEUED,
            walltime=seconds(walltime) if walltime else None,
            walltime_exit=WALLTIME_EXIT,
            extra={"resources": resources, "join": join, "submit_arguments": argv_text, **array},
        )

    if indices is None:
        job_id = engine.submit(text, make).job_id
    else:
        for index in indices:
            engine.submit(text, lambda seq, index=index: make(seq, index))
        job_id = f"{first_seq[0]}[].{engine.server}"
    return Answer(stdout="" if "z" in dict(options) else job_id + "\n")


def _path(given: str | None, cwd: str, default: str) -> str:
    if not given:
        return os.path.join(cwd, default)
    path = given.split(":", 1)[1] if ":" in given else given  # host:path
    path = os.path.join(cwd, path)
    return os.path.join(path, default) if os.path.isdir(path) else path


# -- qstat -----------------------------------------------------------------------------------------


def find(engine: Engine, job_id: str) -> Job | pbs_arrays.ArrayJob | str | None:
    """The job (array ``1234[]``, subjob ``1234[3]``) an id names; None if unknown; "illegal" for a malformed id."""
    match = re.fullmatch(r"(\d+)(?:\[(\d*)\])?(?:\.(.+))?", job_id)
    if not match:
        return "illegal"
    server = match.group(3)
    if server and server != engine.server and not server.startswith(engine.server + "."):
        return None
    if match.group(2) is not None:
        return pbs_arrays.find(engine, int(match.group(1)), match.group(2))
    job = engine.load(int(match.group(1)))
    return None if job is None or pbs_arrays.array_seq(job) is not None else job


def full_id(engine: Engine, job_id: str) -> str:
    """``1234`` -> ``1234.pbs01`` (``1234[]`` -> ``1234[].pbs01``): how PBS names an id in its messages."""
    return job_id if "." in job_id or not re.fullmatch(r"\d+(\[\d*\])?", job_id) else f"{job_id}.{engine.server}"


def _ctime(t: float | None) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t or 0))


def _hhmmss(secs: float) -> str:
    secs = int(secs)
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def attributes(engine: Engine, job: Job | pbs_arrays.ArrayJob) -> dict[str, object]:
    """The job's attributes, in PBS Pro's order, as ``qstat -f`` shows them (arrays and subjobs: pbs_arrays.py)."""
    if isinstance(job, pbs_arrays.ArrayJob):
        return pbs_arrays.array_attributes(job, _attributes(engine, job.subjobs[0]))
    attrs = _attributes(engine, job)
    return attrs if pbs_arrays.array_seq(job) is None else pbs_arrays.subjob_attributes(job, attrs)


def _letter(job: Job | pbs_arrays.ArrayJob) -> str:
    return job.letter if isinstance(job, pbs_arrays.ArrayJob) else LETTERS[job.state]


def _attributes(engine: Engine, job: Job) -> dict[str, object]:
    host = socket.gethostname()
    resources = dict(job.extra.get("resources", {}))
    select = resources.pop("select", "1:ncpus=1")
    ncpus = _ncpus(select)
    now = time.time()
    attrs: dict[str, object] = {"Job_Name": job.name, "Job_Owner": f"{job.owner}@{host}"}
    if job.started is not None:
        used = (job.ended or now) - job.started
        attrs["resources_used"] = {
            "cpupercent": 0,
            "cput": "00:00:00",
            "mem": "0kb",
            "ncpus": ncpus,
            "vmem": "0kb",
            "walltime": _hhmmss(used),
        }
    attrs["job_state"] = LETTERS[job.state]
    attrs["queue"] = job.queue
    attrs["server"] = engine.server
    attrs["Checkpoint"] = "u"
    attrs["ctime"] = _ctime(job.submitted)
    if job.error:
        attrs["Error_Path"] = f"{host}:{job.error}"
    if job.started is not None:
        attrs["exec_host"] = f"{engine.server}/0*{ncpus}"
        attrs["exec_vnode"] = f"({engine.server}:ncpus={ncpus})"
    attrs["Hold_Types"] = "u" if job.state == HELD else "n"
    attrs["Join_Path"] = job.extra.get("join", "n")
    attrs["Keep_Files"] = "n"
    attrs["Mail_Points"] = "a"
    attrs["mtime"] = _ctime(job.ended or job.started or job.submitted)
    attrs["Output_Path"] = f"{host}:{job.output}"
    attrs["Priority"] = 0
    attrs["qtime"] = _ctime(job.submitted)
    attrs["Rerunable"] = "True"
    resource_list: dict[str, object] = {"ncpus": ncpus, "nodect": len(select.split("+")), "place": "pack"}
    resource_list["select"] = select
    resource_list.update({k: (int(v) if v.isdigit() else v) for k, v in resources.items()})
    attrs["Resource_List"] = resource_list
    if job.started is not None:
        attrs["stime"] = _ctime(job.started)
        attrs["session_id"] = job.pgid or 0
    attrs["jobdir"] = job.env.get("HOME", "/")
    substate = SUBSTATES[job.state]
    if job.state == FINISHED and (job.deleted or job.exit_status == WALLTIME_EXIT):
        substate = 91 if job.deleted else 93
    attrs["substate"] = substate
    attrs["Variable_List"] = {k: v for k, v in job.env.items() if k.startswith("PBS_O_")}
    attrs["comment"] = _comment(engine, job)
    attrs["etime"] = _ctime(job.submitted)
    attrs["run_count"] = 0 if job.started is None else 1
    if job.state == FINISHED and job.exit_status is not None:
        attrs["Stageout_status"] = 1
        attrs["Exit_status"] = job.exit_status
    attrs["Submit_arguments"] = job.extra.get("submit_arguments", "")
    if job.state == FINISHED:
        attrs["history_timestamp"] = int(job.ended or now)
    attrs["project"] = "_pbs_project_default"
    return attrs


def _ncpus(select: str) -> int:
    """CPUs a select statement asks for (``2:ncpus=8:ngpus=1+1:ncpus=4`` -> 20)."""
    total = 0
    for chunk in select.split("+"):
        fields = chunk.split(":")
        count = int(fields[0]) if fields[0].isdigit() else 1
        cpus = next((int(f[6:]) for f in fields if f.startswith("ncpus=") and f[6:].isdigit()), 1)
        total += count * cpus
    return total


def _comment(engine: Engine, job: Job) -> str:
    where = f"on ({engine.server}:ncpus=1)"
    if job.state in (QUEUED, HELD):
        return "Not Running: Insufficient amount of resource: ncpus" if job.state == QUEUED else "Job held by user"
    if job.state == FINISHED and job.started is None:
        return "Job deleted by user before it ran" if job.deleted else "Job finished"
    ran = f"Job run at {time.strftime('%a %b %d at %H:%M', time.localtime(job.started or 0))} {where}"
    if job.state == FINISHED:
        if job.exit_status == WALLTIME_EXIT:
            return ran + " and terminated: job killed: walltime exceeded limit"
        return ran + (" and terminated" if job.deleted else " and finished")
    return ran


def _json_text(engine: Engine, found: list[Job | pbs_arrays.ArrayJob]) -> str:
    doc: dict[str, object] = {"timestamp": int(time.time()), "pbs_version": PBS_VERSION, "pbs_server": engine.server}
    if found:
        doc["Jobs"] = {job.job_id: attributes(engine, job) for job in found}
    return json.dumps(doc, indent=4, separators=(",", ":")) + "\n"


def _full_text(engine: Engine, found: list[Job | pbs_arrays.ArrayJob]) -> str:
    lines = []
    for job in found:
        lines.append(f"Job Id: {job.job_id}")
        for key, value in attributes(engine, job).items():
            if isinstance(value, dict):
                if key == "Variable_List":
                    lines.append(f"    {key} = " + ",".join(f"{k}={v}" for k, v in value.items()))
                else:
                    lines += [f"    {key}.{k} = {v}" for k, v in value.items()]
            else:
                lines.append(f"    {key} = {value}")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


def _table_text(found: list[Job | pbs_arrays.ArrayJob]) -> str:
    if not found:
        return ""
    rows = [
        "Job id            Name             User              Time Use S Queue",
        "----------------  ---------------- ----------------  -------- - -----",
    ]
    for job in found:
        used = _hhmmss((job.ended or time.time()) - job.started) if job.started else "0"
        rows.append(f"{job.job_id:<17.17} {job.name:<16.16} {job.owner:<16.16}  {used:>8} {_letter(job)} {job.queue}")
    return "\n".join(rows) + "\n"


def qstat(engine: Engine, args: list[str]) -> Answer:
    try:
        options, ids = parse_options(args, set("fxHwtaE1inspTGMJ"))
    except ValueError as err:
        return Answer(stderr=f"qstat: {err}\n", code=2)
    opts = dict(options)
    full, history = "f" in opts, "x" in opts or "H" in opts
    output_format = opts.get("F", "default")
    if output_format not in ("default", "json", "dsv"):
        return Answer(stderr=f"qstat: invalid output format {output_format}\n", code=2)
    if output_format != "default" and not full:
        return Answer(stderr="qstat: -F is only valid with -f\n", code=2)
    user = opts.get("u")
    stderr: list[str] = []
    code = 0
    found: list[Job | pbs_arrays.ArrayJob] = []
    subjobs = "t" in opts  # -t: the subjobs of arrays too
    if history and not engine.control().get("job_history_enable", True):
        # PBSE_JOBHISTNOTSET: every id fails, and qstat exits 0 all the same (OpenPBS qstat.c)
        for job_id in ids or [""]:
            stderr.append(f"qstat: PBS is not configured to maintain job history {full_id(engine, job_id)}".rstrip())
        text = _json_text(engine, []) if output_format == "json" else ""
        return Answer(stdout=text, stderr="".join(line + "\n" for line in stderr))
    if ids:
        for job_id in ids:
            job = find(engine, job_id)
            if job == "illegal":
                stderr.append(f"qstat: illegally formed job identifier: {job_id}")
                code = 1
            elif job is None:
                stderr.append(f"qstat: Unknown Job Id {full_id(engine, job_id)}")
                code = UNKNOWN_JOB
            elif isinstance(job, (Job, pbs_arrays.ArrayJob)):
                if job.state == FINISHED and not engine.control().get("job_history_enable", True):
                    stderr.append(f"qstat: Unknown Job Id {job.job_id}")  # no history: an ended job is gone
                    code = UNKNOWN_JOB
                elif job.state == FINISHED and not history:
                    stderr.append(
                        f"qstat: {job.job_id} Job has finished, use -x or -H to obtain historical job information"
                    )
                    code = HISTORY_JOB
                else:
                    found.append(job)
                    if subjobs and isinstance(job, pbs_arrays.ArrayJob):
                        found += job.subjobs
    else:
        found = [
            job
            for job in pbs_arrays.collapse(engine.jobs(), with_subjobs=subjobs)
            if (history or job.state in ACTIVE) and (user is None or job.owner in user.split(","))
        ]
    if output_format == "json":
        text = _json_text(engine, found)
    elif full:
        text = _full_text(engine, found)
    else:
        text = _table_text(found)
    return Answer(stdout=text, stderr="".join(line + "\n" for line in stderr), code=code)


# -- qdel, qselect -------------------------------------------------------------------------------


def qdel(engine: Engine, args: list[str]) -> Answer:
    try:
        _, ids = parse_options(args, set("x"))
    except ValueError as err:
        return Answer(stderr=f"qdel: {err}\n", code=2)
    if not ids:
        return Answer(stderr="usage: qdel [-W force|suppress_email=X] [-x] job_identifier...\n", code=2)
    stderr, code = [], 0
    for job_id in ids:
        job = find(engine, job_id)
        if not isinstance(job, (Job, pbs_arrays.ArrayJob)):
            stderr.append(f"qdel: Unknown Job Id {full_id(engine, job_id)}")
            code = UNKNOWN_JOB
        elif job.state == FINISHED:
            stderr.append(f"qdel: Job has finished {full_id(engine, job_id)}")
            code = HISTORY_JOB
        elif isinstance(job, pbs_arrays.ArrayJob):  # every subjob not ended yet
            for subjob in job.subjobs:
                if subjob.active:
                    engine.delete(subjob.seq)
        else:
            engine.delete(job.seq)
    return Answer(stderr="".join(line + "\n" for line in stderr), code=code)


def qselect(engine: Engine, args: list[str]) -> Answer:
    try:
        options, _ = parse_options(args, set("xHT"))
    except ValueError as err:
        return Answer(stderr=f"qselect: {err}\n", code=2)
    opts = dict(options)
    states = opts.get("s")
    history = "x" in opts or "H" in opts
    lines = []
    for job in pbs_arrays.collapse(engine.jobs()):  # an array once, by its id (1234[].pbs01)
        letter = _letter(job)
        if job.state == FINISHED and not history:
            continue
        if "N" in opts and job.name != opts["N"]:
            continue
        if "u" in opts and job.owner not in opts["u"].split(","):
            continue
        if states and letter not in states:
            continue
        lines.append(job.job_id)
    return Answer(stdout="".join(line + "\n" for line in lines))


COMMANDS = {"qsub": qsub, "qstat": qstat, "qdel": qdel, "qselect": qselect}
