"""A long-lived bash on the remote host that runs short commands without a new SSH session each.

Every SSH exec channel starts the user's login shell, and sshd makes bash read
``~/.bashrc`` first: with conda, modules or pyenv set up there that is 50-200 ms
per command, far more than the commands a run sends (a lock, a file check, a
``ps``, a record). This shell pays it once per connection: it is started on its
own channel after the login shell has read its files, reads requests on stdin,
runs each in a fresh ``bash -c`` (its own process, in the login directory, with
the login shell's exported environment), and answers with the exit status,
stdout and stderr.

Wire format. A request is ``"<command bytes> <stdin bytes>\\n"``, the command,
then its stdin. The shell stores both in files of a private temporary directory
(``head -c`` reads exactly that many bytes: GNU coreutils is required, or the
shell does not start), runs the command with the stdin file as its stdin and its
output in two more files, and answers ``"<status> <stdout bytes> <stderr bytes>\\n"``
followed by the two outputs. The files are removed after each answer, the
directory when the shell ends.
"""

from __future__ import annotations

import secrets
import select
import shlex
import socket
import time

import paramiko

#: the shell's loop; ``$1`` is the line it prints once it is ready
LOOP = r"""
exec 2>/dev/null
head --version | grep -q 'GNU coreutils' || exit 1
d=$(mktemp -d "${TMPDIR:-/tmp}/dpd-shell.XXXXXX") || exit 1
trap 'rm -rf -- "$d"' EXIT
trap 'exit 1' HUP PIPE TERM
printf '%s\n' "$1"
k=0
while IFS=' ' read -r n m; do
  k=$((k + 1)); c=$d/c$k; i=$d/i$k; o=$d/o$k; e=$d/e$k
  { head -c "$n" > "$c" && head -c "$m" > "$i" && : > "$o" && : > "$e"; } || { printf '%s\n' "$2"; exit 1; }
  bash -c -- "$(< "$c")" < "$i" > "$o" 2> "$e"
  s=$?
  a= b=
  { read -r a _; read -r b _; } < <(wc -c -- "$o" "$e")
  [ -n "$a" ] && [ -n "$b" ] || exit 1
  printf '%s %s %s\n' "$s" "$a" "$b"
  head -c "$a" -- "$o"; head -c "$b" -- "$e"
  rm -f -- "$c" "$i" "$o" "$e"
done
"""
#: a login script may print lines before the shell starts; this many bytes of them are skipped at most
MAX_GREETING = 1 << 20
#: the answer line is at most this long (three numbers)
MAX_ANSWER_LINE = 128


class ShellUnavailable(Exception):
    """The shell did not start, or could not take a request: the command was not run (run it on its own channel)."""


class ShellEnded(Exception):
    """The shell's channel ended before the command's answer was complete: the command may have run."""


class RemoteShell:
    """One remote shell on its own channel of ``transport``; one request at a time (callers hold a lock)."""

    def __init__(self, transport: paramiko.Transport, timeout: float) -> None:
        self.transport = transport
        self._ready_line = ("dpd-shell-ready-" + secrets.token_hex(8)).encode()
        self._refused_line = ("dpd-shell-refused-" + secrets.token_hex(8)).encode()
        self.ready = False
        self._pending = bytearray()
        self.channel = transport.open_session(timeout=timeout)
        try:
            script = shlex.quote(LOOP)
            self.channel.exec_command(
                f"exec bash -c {script} dpd-shell {self._ready_line.decode()} {self._refused_line.decode()}"
            )
        except BaseException:
            self.channel.close()
            raise

    def close(self) -> None:
        self.channel.close()

    @property
    def ended(self) -> bool:
        """Whether the shell is gone (its channel closed or at its end): a new one is needed."""
        return bool(self.channel.closed or self.channel.eof_received or self.channel.exit_status_ready())

    def wait_ready(self, deadline: float) -> None:
        """Skip what the login scripts printed up to the ready line; :class:`ShellUnavailable` if it does not come."""
        while not self.ready:
            try:
                line = self._line(deadline, MAX_GREETING)
            except (ShellEnded, socket.timeout, OSError) as err:
                raise ShellUnavailable(f"the remote shell did not start ({type(err).__name__})") from None
            self.ready = line == self._ready_line

    def request(self, cmd: str, stdin: bytes) -> bytes:
        """What to send for running ``cmd`` with ``stdin``."""
        command = cmd.encode()
        return f"{len(command)} {len(stdin)}\n".encode() + command + stdin

    def answer(self, deadline: float | None) -> tuple[int, bytes, bytes]:
        """The exit status, stdout and stderr of the request just sent."""
        line = self._line(deadline, MAX_ANSWER_LINE)
        if line == self._refused_line:
            raise ShellUnavailable("the remote shell could not store the request (is its temporary directory full?)")
        fields = line.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            raise ShellEnded(f"unexpected answer from the remote shell: {line[:80]!r}")
        status, out_size, err_size = (int(f) for f in fields)
        return status, self._exactly(out_size, deadline), self._exactly(err_size, deadline)

    # -- reading ---------------------------------------------------------------------

    def _line(self, deadline: float | None, limit: int) -> bytes:
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[: end + 1]
                return line
            if len(self._pending) > limit:
                raise ShellEnded("the remote shell sent a line longer than expected")
            self._receive(deadline)

    def _exactly(self, size: int, deadline: float | None) -> bytes:
        while len(self._pending) < size:
            self._receive(deadline)
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def _receive(self, deadline: float | None) -> None:
        """Append what the channel has to the pending bytes, waiting up to ``deadline``."""
        while not self.channel.recv_ready():
            if self.channel.eof_received or self.channel.closed:
                raise ShellEnded("the remote shell's channel ended")
            wait = 1.0 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                raise socket.timeout()
            select.select([self.channel], [], [], min(wait, 1.0))
        self._pending += self.channel.recv(1 << 20)
