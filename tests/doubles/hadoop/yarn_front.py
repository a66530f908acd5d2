"""Hadoop front of the scheduler TEST DOUBLE: ``hadoop fs``, ``hadoop jar … distributedshell`` and ``yarn application``.

Formats from Apache Hadoop 3.3: the FileSystem Shell guide and ``FsShell`` messages (see
``hdfs_double.py``), the DistributedShell ``Client`` (its options and log lines), and
``ApplicationCLI`` (``yarn application``):

* ``hadoop jar <jar> [-jar <jar>] -shell_script F | -shell_command C [-shell_args A]
  [-shell_env K=V]… [-num_containers 1] [-container_memory MB] [-container_vcores N]
  [-master_memory MB] [-master_vcores N] [-queue Q] [-appname NAME] [-timeout MS]`` submits an
  application of one container: the engine runs the script (a copy taken now, as the client
  uploads it) with bash in a fresh container directory under ``nm-local-dir``, with the
  client's environment, the ``-shell_env`` values and ``CONTAINER_ID``. Like the real client it
  logs to stderr (``INFO impl.YarnClientImpl: Submitted application application_<ts>_<n>``),
  then watches the application until it ends: exit 0 when it SUCCEEDED, 2 otherwise; past
  ``-timeout`` (default 600000 ms) it kills the application. A jar that does not exist: ``JAR
  does not exist or is not a normal file: <jar>``.
* ``yarn application -list [-appStates S1,S2|ALL] [-appTypes T]``: the ``Total number of
  applications (application-types: [...], states: [...] and tags: []):N`` header, the column line
  and one tab-separated row per application (``%30s\\t%20s\\t…``). A queued application shows
  NEW, NEW_SAVING, SUBMITTED then ACCEPTED (``phase_seconds`` each, knob, default 0.02); running:
  RUNNING/UNDEFINED; ended: FINISHED/SUCCEEDED (exit 0), FINISHED/FAILED (a non-zero exit),
  KILLED/KILLED (``-kill``), FAILED/FAILED (``HadoopDouble.crash``: the application master died).
  Without ``-appStates``: SUBMITTED, ACCEPTED and RUNNING only.
* ``yarn application -kill id…``: ``Killing application <id>``; ``Application <id> has already
  finished``; ``Application with id '<id>' doesn't exist in RM.`` (exit 255).

``down``: ``Call From … to <rm>:8032 failed on connection exception: java.net.ConnectException:
Connection refused``.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from pathlib import Path

from doubles.engine import ACTIVE, EXITING, HELD, QUEUED, RUNNING, Answer, Engine, Job
from doubles.hadoop.hdfs_double import fs

#: the cluster's start time: the first part of every application id
CLUSTER_TIMESTAMP = "1701423600000"
ALL_STATES = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED"]
DEFAULT_STATES = ["SUBMITTED", "ACCEPTED", "RUNNING"]
QUEUED_PHASES = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED"]
ROW = "%30s\t%20s\t%20s\t%10s\t%10s\t%18s\t%18s\t%15s\t%35s"
HEADER = ROW % (
    "Application-Id",
    "Application-Name",
    "Application-Type",
    "User",
    "Queue",
    "State",
    "Final-State",
    "Progress",
    "Tracking-URL",
)
#: options of the DistributedShell client that take a value, and the flags
CLIENT_OPTIONS = {
    "jar",
    "shell_script",
    "shell_command",
    "shell_args",
    "shell_env",
    "num_containers",
    "container_memory",
    "container_vcores",
    "master_memory",
    "master_vcores",
    "queue",
    "appname",
    "timeout",
    "priority",
    "log_properties",
}
CLIENT_FLAGS = {"debug", "keep_containers_across_application_attempts"}


def log(level: str, source: str, text: str) -> str:
    """A log4j line as Hadoop's command line tools print them on stderr."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"
    return f"{stamp} {level} {source}: {text}\n"


def app_id(seq: int) -> str:
    return f"application_{CLUSTER_TIMESTAMP}_{seq:04d}"


def seq_of(application: str) -> int | None:
    parts = application.split("_")
    return int(parts[2]) if len(parts) == 3 and parts[0] == "application" and parts[2].isdigit() else None


def rm_address(engine: Engine) -> str:
    return f"{engine.server}/127.0.0.1:8032"


# -- hadoop ----------------------------------------------------------------------------------------------


def hadoop(engine: Engine, args: list[str]) -> Answer:
    if args[:1] == ["fs"] or args[:1] == ["dfs"]:
        return fs(engine, args[1:])
    if args[:1] == ["jar"]:
        return distributed_shell(engine, args[1:])
    return Answer(stderr=f"Error: Could not find or load main class {args[0] if args else ''}\n", code=1)


def distributed_shell(engine: Engine, args: list[str]) -> Answer:
    """``hadoop jar <distributedshell jar> [options]``: submit, then watch until the application ends."""
    if not args or not os.path.isfile(args[0]):
        return Answer(stderr=f"JAR does not exist or is not a normal file: {args[0] if args else ''}\n", code=255)
    options: dict[str, list[str]] = {}
    rest = args[1:]
    if rest and not rest[0].startswith("-"):
        rest = rest[1:]  # a main class named after the jar
    while rest:
        option = rest.pop(0)
        name = option.lstrip("-")
        if name in CLIENT_FLAGS:
            options[name] = [""]
        elif name in CLIENT_OPTIONS and rest:
            options.setdefault(name, []).append(rest.pop(0))
        else:
            return Answer(
                stderr=log("ERROR", "distributedshell.Client", "Error running Client")
                + f"org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {option}\n",
                code=1,
            )
    if "shell_script" in options:
        try:
            script = Path(options["shell_script"][0]).read_text()
        except OSError:
            return Answer(
                stderr=f"java.io.FileNotFoundException: File {options['shell_script'][0]} does not exist\n", code=1
            )
    elif "shell_command" in options:
        script = " ".join([options["shell_command"][0], *options.get("shell_args", [])]) + "\n"
    else:
        return Answer(
            stderr=log("ERROR", "distributedshell.Client", "Error running Client")
            + "java.lang.IllegalArgumentException: No shell command or shell script specified to be executed by "
            "application master\n",
            code=1,
        )
    say(log("INFO", "distributedshell.Client", "Initializing Client"))
    say(log("INFO", "distributedshell.Client", "Running Client"))
    say(
        log(
            "INFO",
            "client.DefaultNoHARMFailoverProxyProvider",
            f"Connecting to ResourceManager at {rm_address(engine)}",
        )
    )
    say(log("INFO", "distributedshell.Client", "Submitting application to ASM"))
    job = engine.submit(script, lambda seq: _application(engine, seq, options))
    engine.update(job.seq, lambda j: j.extra.__setitem__("client_pid", os.getpid()))
    say(log("INFO", "impl.YarnClientImpl", f"Submitted application {job.job_id}"))
    return _watch(engine, job, float(options.get("timeout", ["600000"])[0]) / 1000)


def _application(engine: Engine, seq: int, options: dict[str, list[str]]) -> Job:
    user = os.environ.get("USER") or getpass.getuser()
    application = app_id(seq)
    container = f"container_{CLUSTER_TIMESTAMP}_{seq:04d}_01_000002"
    workdir = engine.root / "nm-local-dir" / "usercache" / user / "appcache" / application / container
    workdir.mkdir(parents=True)
    logs = engine.root / "userlogs" / application / container
    env = dict(os.environ)
    env.update(pair.split("=", 1) for pair in options.get("shell_env", []) if "=" in pair)
    env.update({"CONTAINER_ID": container, "PWD": str(workdir)})
    return Job(
        seq=seq,
        job_id=application,
        name=options.get("appname", ["DistributedShell"])[0],
        owner=user,
        queue=options.get("queue", ["default"])[0],
        script="",
        workdir=os.getcwd(),
        output=str(logs / "stdout"),
        error=str(logs / "stderr"),
        env=env,
        extra={
            "cwd": str(workdir),
            "container_memory": options.get("container_memory", ["10"])[0],
            "container_vcores": options.get("container_vcores", ["1"])[0],
            "num_containers": options.get("num_containers", ["1"])[0],
        },
    )


def _watch(engine: Engine, job: Job, timeout: float) -> Answer:
    """The client's monitoring loop: a report a second, until the application ends or the timeout passes."""
    started = time.monotonic()
    last_report = 0.0
    while True:
        current = engine.load(job.seq)
        if current is None:
            return Answer(stderr=log("ERROR", "distributedshell.Client", f"Application {job.job_id} not found"), code=1)
        state, final = states(engine, current)
        if time.monotonic() - last_report >= 1:
            say(
                log(
                    "INFO",
                    "distributedshell.Client",
                    f"Got application report from ASM for, appId={job.seq}, yarnAppState={state}, "
                    f"distributedFinalState={final}",
                )
            )
            last_report = time.monotonic()
        if state in ("FINISHED", "FAILED", "KILLED"):
            if final == "SUCCEEDED":
                say(
                    log(
                        "INFO",
                        "distributedshell.Client",
                        "Application has completed successfully. Breaking monitoring loop",
                    )
                )
                return Answer(stderr=log("INFO", "distributedshell.Client", "Application completed successfully"))
            say(
                log(
                    "INFO",
                    "distributedshell.Client",
                    f"Application did finished unsuccessfully. YarnState={state}, DSFinalStatus={final}. "
                    "Breaking monitoring loop",
                )
            )
            return Answer(
                stderr=log("ERROR", "distributedshell.Client", "Application failed to complete successfully"), code=2
            )
        if time.monotonic() - started > timeout:
            say(
                log(
                    "INFO",
                    "distributedshell.Client",
                    "Reached client specified timeout for application. Killing application",
                )
            )
            engine.delete(job.seq)
            return Answer(
                stderr=log("ERROR", "distributedshell.Client", "Application failed to complete successfully"), code=2
            )
        time.sleep(0.2)


def say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


# -- yarn ------------------------------------------------------------------------------------------------


def states(engine: Engine, job: Job) -> tuple[str, str]:
    """(State, Final-State) of an application, as the ResourceManager shows it."""
    if job.state in (QUEUED, HELD):
        phase = float(engine.control().get("phase_seconds", 0.02))
        step = int((time.time() - job.submitted) / phase) if phase > 0 else len(QUEUED_PHASES)
        return QUEUED_PHASES[min(step, len(QUEUED_PHASES) - 1)], "UNDEFINED"
    if job.state in (RUNNING, EXITING):
        return "RUNNING", "UNDEFINED"
    if job.extra.get("am_crashed"):
        return "FAILED", "FAILED"
    if job.deleted:
        return "KILLED", "KILLED"
    return "FINISHED", "SUCCEEDED" if job.exit_status == 0 else "FAILED"


def yarn(engine: Engine, args: list[str]) -> Answer:
    if args[:1] != ["application"] or len(args) < 2:
        return Answer(stderr="Usage: yarn [OPTIONS] SUBCOMMAND [SUBCOMMAND OPTIONS]\n", code=1)
    banner = log(
        "INFO", "client.DefaultNoHARMFailoverProxyProvider", f"Connecting to ResourceManager at {rm_address(engine)}"
    )
    if args[1] == "-list":
        return (
            Answer(*_list(engine, args[2:]), code=0)
            if _list_ok(args[2:])
            else Answer(stderr=banner + _list_usage(), code=255)
        )
    if args[1] == "-kill" and len(args) > 2:
        return _kill(engine, args[2:], banner)
    return Answer(stderr=f"Unrecognized option: {args[1]}\n", code=255)


def _list_ok(args: list[str]) -> bool:
    pairs = list(zip(args[::2], args[1::2]))
    return len(args) % 2 == 0 and all(option in ("-appStates", "-appTypes", "-appTags") for option, _ in pairs)


def _list_usage() -> str:
    return "usage: application\n -list   List applications. Supports optional use of -appTypes to filter applications\n"


def _list(engine: Engine, args: list[str]) -> tuple[str, str]:
    wanted = DEFAULT_STATES
    types: list[str] = []
    for option, value in zip(args[::2], args[1::2]):
        if option == "-appStates":
            given = [s.strip().upper() for s in value.split(",") if s.strip()]
            wanted = ALL_STATES if "ALL" in given else given
        elif option == "-appTypes":
            types = [t.strip().upper() for t in value.split(",") if t.strip()]
    rows = []
    for job in engine.jobs():
        state, final = states(engine, job)
        if state not in wanted or (types and "YARN" not in types):
            continue
        progress = "100%" if state in ("FINISHED", "FAILED", "KILLED") else "0%"
        url = f"http://{engine.server}:8088/proxy/{job.job_id}/" if job.active else "N/A"
        rows.append(ROW % (job.job_id, job.name, "YARN", job.owner, job.queue, state, final, progress, url))
    shown_types = "[" + ", ".join(types) + "]"
    header = (
        f"Total number of applications (application-types: {shown_types}, states: [{', '.join(wanted)}] "
        f"and tags: []):{len(rows)}"
    )
    banner = log(
        "INFO", "client.DefaultNoHARMFailoverProxyProvider", f"Connecting to ResourceManager at {rm_address(engine)}"
    )
    return "\n".join([header, HEADER, *rows]) + "\n", banner


def _kill(engine: Engine, ids: list[str], banner: str) -> Answer:
    out, err, code = [], [banner], 0
    for application in ids:
        seq = seq_of(application)
        job = engine.load(seq) if seq is not None else None
        if job is None:
            out.append(f"Application with id '{application}' doesn't exist in RM.\n")
            code = 255
        elif job.state not in ACTIVE:
            out.append(f"Application {application} has already finished \n")
        else:
            out.append(f"Killing application {application}\n")
            engine.delete(job.seq)
            err.append(log("INFO", "impl.YarnClientImpl", f"Killed application {application}"))
    return Answer("".join(out), "".join(err), code)


def down(engine: Engine, command: str) -> Answer:
    """A cluster whose NameNode / ResourceManager does not answer."""
    target = f"{engine.server}:8032" if command == "yarn" else f"{engine.server}:8020"
    return Answer(
        stderr=f"Call From client/127.0.0.1 to {target} failed on connection exception: "
        "java.net.ConnectException: Connection refused; For more details see:  "
        "http://wiki.apache.org/hadoop/ConnectionRefused\n",
        code=1,
    )


COMMANDS = {"hadoop": hadoop, "yarn": yarn}
