"""The ``hadoop jar … distributedshell`` and ``yarn application`` command lines (every value shell-quoted).

The DistributedShell client submits the application, then watches it until it ends (and
kills it when its ``-timeout`` passes). The submit command therefore starts the client in the
background with its log in the control directory, waits (at most :data:`SUBMIT_WAIT` seconds)
for the line ``Submitted application application_…``, stops the client (the application goes
on without it) and prints the id; a client that ends or stays silent instead has its log's
tail printed on stderr.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from dpdispatcher.commands import chunked_command

#: the DistributedShell jar under $HADOOP_HOME, as Hadoop's distributions lay it out
JAR_DIR = '"$HADOOP_HOME/share/hadoop/yarn"'
JAR_GLOB = "hadoop-yarn-applications-distributedshell-*.jar"
#: seconds the submit command waits for the client to say which application it submitted
SUBMIT_WAIT = 120

LIST = "yarn application -list -appStates ALL"

SUBMIT = (
    "dpd_jar=$(compgen -G {jar_glob} | head -n 1); "
    '[ -n "$dpd_jar" ] || {{ echo "no DistributedShell jar matches "{jar_glob_shown}" (set HADOOP_HOME, or '
    'resources/kwargs/yarn_path to the directory holding it)" >&2; exit 1; }}; '
    'hadoop jar "$dpd_jar" -jar "$dpd_jar" {options} >{log} 2>&1 </dev/null & dpd_client=$!; dpd_n=0; '
    "until grep -q 'Submitted application' {log} || ! kill -0 $dpd_client 2>/dev/null "
    "|| [ $dpd_n -ge {polls} ]; do sleep 0.1; dpd_n=$((dpd_n + 1)); done; "
    "dpd_app=$(grep -o 'Submitted application application_[0-9]*_[0-9]*' {log} | head -n 1); "
    "kill $dpd_client 2>/dev/null; "
    '[ -n "$dpd_app" ] || {{ echo "the DistributedShell client submitted nothing; the end of its log {log}:" >&2; '
    'tail -n 20 {log} >&2; exit 1; }}; echo "${{dpd_app##* }}"'
)


def submit(options: Sequence[str], log: str, yarn_path: str = "") -> str:
    """The command that submits one application with the client ``options`` and prints its id."""
    jar_dir = shlex.quote(yarn_path) if yarn_path else JAR_DIR
    return SUBMIT.format(
        jar_glob=f"{jar_dir}/{shlex.quote(JAR_GLOB)}",  # one word: compgen expands the glob, not the shell
        jar_glob_shown=shlex.quote(f"{yarn_path or '$HADOOP_HOME/share/hadoop/yarn'}/{JAR_GLOB}"),
        options=shlex.join(options),
        log=shlex.quote(log),
        polls=SUBMIT_WAIT * 10,
    )


def kill(app_ids: Sequence[str]) -> list[str]:
    """``yarn application -kill id…`` lines, each under the command budget."""
    return chunked_command(["yarn", "application", "-kill"], app_ids)
