"""One SSH connection, reused for every command and transfer, re-established when it drops.

Authentication tries, in order: the configured key file(s), the ssh-agent, the
default keys in ``~/.ssh``, the password, and keyboard-interactive (answering
password prompts with the password and one-time-code prompts with a TOTP from
``totp_secret``). Partial success (e.g. key *and* password+code) is followed
through. Host keys are checked by :class:`~dpdispatcher_ssh.hostkeys.HostKeyChecker`.

Secrets (password, passphrase, TOTP secret) are kept in memory only; no log
line or exception message contains them.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, cast

import paramiko

from dpdispatcher.errors import ConfigError, DispatcherError
from dpdispatcher_ssh.hostkeys import HostKeyChecker, HostKeyError
from dpdispatcher_ssh.remote_shell import RemoteShell, ShellEnded, ShellUnavailable

logger = logging.getLogger(__name__)

#: flow-control window per channel; larger windows make paramiko's buffers slow
WINDOW_SIZE = 4 * 1024 * 1024
MAX_PACKET_SIZE = 32768
#: fastest ciphers first (AES-GCM is hardware-accelerated almost everywhere)
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
#: how long a closed channel without an exit status waits to see whether its transport is going down
LINK_SETTLE = 0.5
#: commands with more stdin than this run on their own channel, streaming it (the remote shell stores stdin first)
SHELL_STDIN_LIMIT = 4 << 20
OTP_WORDS = ("verification", "code", "otp", "token", "one-time", "one time", "2fa", "authenticator")


class SSHConnectionError(DispatcherError, ConnectionError):
    """The host could not be reached or authentication failed."""


class SSHAuthenticationError(SSHConnectionError):
    """Every authentication method failed: retrying will not help."""


class RemoteSetupError(SSHConnectionError):
    """remote_profile/execute_command failed after connecting: retrying will not help."""


class CommandTimeout(DispatcherError, TimeoutError):
    """A command did not finish within its timeout (the connection itself is fine)."""


class _ConnectionLost(Exception):
    """The connection broke while an operation was in progress (retryable)."""


class _RemoteEnded(Exception):
    """The remote command exited before reading all of its stdin (its status and stderr say why)."""


class _LocalError(Exception):
    """A local failure inside a stream callback (e.g. a missing file, a refused archive member).

    It is raised to the caller as the original exception: the connection is fine
    and retrying would fail the same way.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


#: errors that mean "the connection is gone": reconnect and retry
_RETRYABLE = (_ConnectionLost, EOFError, OSError, paramiko.SSHException)
#: errors that retrying cannot fix
_FATAL = (
    CommandTimeout,
    HostKeyError,
    SSHAuthenticationError,
    RemoteSetupError,
    ConfigError,
    paramiko.AuthenticationException,
    socket.gaierror,
)


@dataclass
class ExecResult:
    returncode: int
    stdout: Any
    stderr: bytes


class SSHSession:
    """A reusable SSH connection (optionally through a jump host or a proxy command)."""

    def __init__(
        self,
        hostname: str,
        username: str | None = None,
        password: str | None = None,
        port: int = 22,
        key_filename: str | list[str] | None = None,
        passphrase: str | None = None,
        timeout: float = 10,
        totp_secret: str | None = None,
        *,
        look_for_keys: bool = True,
        allow_agent: bool = True,
        known_hosts: str | None = None,
        host_key_policy: str = "tofu",
        proxy_command: str | None = None,
        jump: SSHSession | None = None,
        execute_command: str | None = None,
        keepalive_interval: float = 30,
        reconnect_attempts: int = 8,
        reconnect_max_delay: float = 30,
        remote_shell: bool = True,
    ) -> None:
        if not hostname:
            raise ConfigError("remote_profile/hostname is required for SSHContext")
        self.hostname = hostname
        self.username = username or _local_user()
        self.port = int(port or 22)
        if isinstance(key_filename, str):
            key_filename = [key_filename]
        self.key_filenames = [os.path.expanduser(k) for k in (key_filename or [])]
        self.timeout = float(timeout or 10)
        self.look_for_keys = look_for_keys
        self.allow_agent = allow_agent
        self.host_keys = HostKeyChecker(known_hosts, host_key_policy)
        self.proxy_command = proxy_command
        self.jump = jump
        self.execute_command = execute_command
        self.keepalive_interval = keepalive_interval
        self.reconnect_attempts = int(reconnect_attempts)
        self.reconnect_max_delay = float(reconnect_max_delay)
        # secrets: private attributes, never formatted into messages
        self._password = password
        self._passphrase = passphrase
        self._totp_secret = totp_secret
        self._transport: paramiko.Transport | None = None
        self._lock = threading.RLock()
        #: the remote shell of the current connection (see :mod:`dpdispatcher_ssh.remote_shell`), one user at a time
        self._shell: RemoteShell | None = None
        self._shell_lock = threading.Lock()
        #: the connection on which the remote shell could not start (commands then each get a channel)
        self._shell_refused: paramiko.Transport | None = None
        #: whether a connection starts its remote shell at once (not for a session used only as a jump host)
        self.remote_shell = remote_shell
        self._ever_connected = False
        #: how many SSH connections this session has opened (1 for a run without drops)
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"SSHSession({self.where})"

    @property
    def where(self) -> str:
        via = f" via {self.jump.where}" if self.jump else (" via proxy_command" if self.proxy_command else "")
        return f"{self.username}@{self.hostname}:{self.port}{via}"

    # -- connection --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.is_active() and self._transport.is_authenticated()

    def transport(self) -> paramiko.Transport:
        """The live transport, connecting (and reconnecting with backoff) as needed."""
        with self._lock:
            if self.connected:
                assert self._transport is not None  # connected says so
                return self._transport
            return self._with_retry(self._transport_or_connect, "connect")

    def _transport_or_connect(self) -> paramiko.Transport:
        if not self.connected:
            self._drop()
            self._connect()
        assert self._transport is not None  # _connect set it or raised
        return self._transport

    def _open_socket(self) -> socket.socket | paramiko.Channel | paramiko.ProxyCommand:
        if self.jump is not None:
            jump_transport = self.jump.transport()
            try:
                return jump_transport.open_channel(
                    "direct-tcpip", (self.hostname, self.port), ("127.0.0.1", 0), timeout=self.timeout
                )
            except paramiko.ChannelException as err:
                raise _ConnectionLost(
                    f"the jump host {self.jump.where} could not open a connection to {self.hostname}:{self.port}: {err}"
                ) from None
        if self.proxy_command:
            command = self.proxy_command.replace("%h", self.hostname).replace("%p", str(self.port))
            command = command.replace("%r", self.username).replace("%%", "%")
            return paramiko.ProxyCommand(command)
        sock = socket.create_connection((self.hostname, self.port), timeout=self.timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # a dead peer turns into an error instead of a hang
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(max(self.timeout, 60) * 1000))
        return sock

    def _connect(self) -> None:
        sock = self._open_socket()
        transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
        try:
            options = transport.get_security_options()
            options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in options.ciphers) + tuple(
                c for c in options.ciphers if c not in PREFERRED_CIPHERS
            )
            options.key_types = self.host_keys.preferred_algorithms(self.hostname, self.port, options.key_types)
            transport.start_client(timeout=self.timeout)
            self.host_keys.verify(self.hostname, self.port, transport.get_remote_server_key())
            self._authenticate(transport)
            transport.set_keepalive(int(self.keepalive_interval or 0))
        except BaseException:
            transport.close()
            raise
        self._transport = transport
        self.connections_opened += 1
        self._ever_connected = True
        logger.info("connected to %s", self.where)
        if self.execute_command:
            result = self._exec_once(self.execute_command, None, None, self.timeout * 6, cwd=None)
            if result.returncode != 0:
                raise RemoteSetupError(
                    f"remote_profile/execute_command failed on {self.where} with exit code {result.returncode}: "
                    f"{result.stderr.decode(errors='replace').strip()[-2000:]}"
                )
        if self.remote_shell and self._shell_lock.acquire(blocking=False):
            try:  # it reads the login files while the caller goes on; the first command waits for it if need be
                self._start_shell(transport)
            finally:
                self._shell_lock.release()

    def _drop(self) -> None:
        self._close_shell()
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                transport.close()
            except Exception:  # closing a dead transport may fail in many ways
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()
        if self.jump is not None:
            self.jump.close()

    # -- authentication --------------------------------------------------------

    def _load_key(self, path: str, explicit: bool) -> paramiko.PKey | None:
        """The private key at ``path``, or None for a default key that cannot be used.

        A key that is not encrypted is loaded as it is, whatever passphrase the
        profile carries (1.1.0 logs in with it too; cryptography would refuse the
        passphrase); only an encrypted key is decrypted with it.
        """
        try:
            return paramiko.PKey.from_path(path)
        except OSError as err:
            if explicit:
                raise SSHAuthenticationError(f"cannot read the key {path}: {err.strerror or err}") from None
            return None
        except (paramiko.SSHException, ValueError, TypeError) as err:
            if not _says_encrypted(err):
                if explicit:
                    raise SSHAuthenticationError(f"cannot load the key {path}: {type(err).__name__}: {err}") from None
                logger.debug("skipping unreadable key %s: %s", path, type(err).__name__)
                return None
        if not self._passphrase:
            self._encrypted(path, explicit)
            return None
        return self._decrypt_key(path, explicit)

    def _decrypt_key(self, path: str, explicit: bool) -> paramiko.PKey | None:
        try:
            # paramiko annotates the password as str, but hands it to cryptography, which wants bytes
            return paramiko.PKey.from_path(path, cast(str, self._passphrase).encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, ValueError, TypeError) as err:
            # the library's text ("Incorrect password", "no BEGIN/END delimiters") is left out: it
            # says nothing more and could quote what it was given
            if explicit:
                raise SSHAuthenticationError(
                    f"cannot decrypt the key {path} with remote_profile/passphrase: wrong passphrase, or a damaged "
                    f"key file ({type(err).__name__})"
                ) from None
            logger.debug("skipping key %s: the passphrase does not decrypt it (%s)", path, type(err).__name__)
            return None

    def _encrypted(self, path: str, explicit: bool) -> None:
        if explicit:
            raise SSHAuthenticationError(
                f"the key {path} is encrypted: set remote_profile/passphrase (or load it into ssh-agent)"
            )
        logger.debug("skipping encrypted key %s (no passphrase)", path)
        return None

    def _candidate_keys(self) -> Iterator[tuple[str, paramiko.PKey]]:
        for path in self.key_filenames:
            key = self._load_key(path, explicit=True)
            if key is not None:
                yield path, key
        if self.allow_agent:
            try:
                for key in paramiko.Agent().get_keys():
                    yield "ssh-agent", key
            except paramiko.SSHException as err:
                logger.debug("ssh-agent not usable: %s", err)
        if self.look_for_keys and not self.key_filenames:
            for name in DEFAULT_KEYS:
                path = os.path.expanduser(os.path.join("~", ".ssh", name))
                if os.path.isfile(path):
                    key = self._load_key(path, explicit=False)
                    if key is not None:
                        yield path, key

    def _secrets(self) -> list[str]:
        return [s for s in (self._password, self._passphrase, self._totp_secret) if s]

    def _answer_prompts(self, title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        answers = []
        for prompt, _echo in prompts:
            text = prompt.lower()
            if self._totp_secret and any(word in text for word in OTP_WORDS) and "password" not in text:
                import pyotp

                answers.append(pyotp.TOTP(self._totp_secret).now())
            elif self._password is not None:
                answers.append(self._password)
            else:
                logger.debug("keyboard-interactive prompt %r left empty (no password configured)", prompt)
                answers.append("")
        return answers

    def _can_answer(self, method: str) -> bool:
        if method == "password":
            return self._password is not None
        return self._password is not None or bool(self._totp_secret)

    def _authenticate(self, transport: paramiko.Transport) -> None:
        user = self.username
        try:
            transport.auth_none(user)
        except paramiko.BadAuthenticationType as err:
            allowed = list(err.allowed_types)
        except paramiko.AuthenticationException:
            allowed = ["publickey", "password", "keyboard-interactive"]
        tried: list[str] = []
        if transport.is_authenticated():
            return
        if "publickey" in allowed:
            for label, key in self._candidate_keys():
                tried.append(f"publickey ({label})")
                try:
                    remaining = transport.auth_publickey(user, key)
                except paramiko.BadAuthenticationType as err:
                    allowed = list(err.allowed_types)
                    break
                except paramiko.AuthenticationException:
                    continue
                except paramiko.SSHException as err:
                    raise SSHConnectionError(
                        f"{self.where}: connection closed during key authentication: {err}"
                    ) from None
                if transport.is_authenticated():
                    return
                allowed = list(remaining)  # partial success: the server wants a second factor
                break
        # with a TOTP secret the password goes through keyboard-interactive (PAM asks for both)
        pending = ["keyboard-interactive", "password"] if self._totp_secret else ["password", "keyboard-interactive"]
        while True:
            method = next((m for m in pending if m in allowed and self._can_answer(m)), None)
            if method is None:
                break
            pending.remove(method)
            try:
                if method == "password":
                    tried.append("password")
                    remaining = transport.auth_password(user, cast(str, self._password))  # _can_answer: set
                else:
                    tried.append("keyboard-interactive" + (" (password + one-time code)" if self._totp_secret else ""))
                    remaining = transport.auth_interactive(user, self._answer_prompts)
            except paramiko.BadAuthenticationType as err:
                allowed = list(err.allowed_types)
                continue
            except paramiko.AuthenticationException:
                continue
            if transport.is_authenticated():
                return
            allowed = list(remaining)  # partial success: the server wants another factor
        raise SSHAuthenticationError(
            f"authentication as {user} on {self.hostname}:{self.port} failed. The server accepts: "
            f"{', '.join(allowed) or 'nothing'}; tried: {', '.join(tried) or 'nothing (no key, password or totp_secret configured)'}. "
            "Check remote_profile/username, key_filename, passphrase, password and totp_secret."
        )

    # -- commands -----------------------------------------------------------------

    def _with_retry(self, operation: Callable[[], Any], what: str) -> Any:
        attempt = 0
        while True:
            try:
                return operation()
            except _LocalError as local:
                raise local.error from None
            except _FATAL:
                self._drop()
                raise
            except _RETRYABLE as err:
                self._drop()
                if not self._ever_connected:
                    raise SSHConnectionError(
                        f"cannot connect to {self.where}: {_describe(err, self._secrets())}"
                    ) from None
                attempt += 1
                if attempt > self.reconnect_attempts:
                    raise SSHConnectionError(
                        f"lost the connection to {self.where} and could not re-establish it after "
                        f"{self.reconnect_attempts} attempts ({what}): {_describe(err, self._secrets())}"
                    ) from None
                delay = min(0.5 * 2 ** (attempt - 1), self.reconnect_max_delay)
                logger.warning(
                    "connection to %s lost during %s (%s); reconnecting in %.1f s (attempt %d of %d)",
                    self.where,
                    what,
                    _describe(err, self._secrets()),
                    delay,
                    attempt,
                    self.reconnect_attempts,
                )
                time.sleep(delay)

    def exec(
        self,
        cmd: str,
        stdin: bytes | Callable[[Any], None] | None = None,
        stdout: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run ``cmd`` (in ``cwd``) over the shared connection; reconnect and retry if the connection drops.

        ``stdin`` is bytes to send, or a callable that writes to a file-like object
        (it is called again on a retry). ``stdout`` is a callable that consumes a
        file-like reader and whose return value becomes ``ExecResult.stdout``;
        without it, stdout is collected as bytes.
        """

        def attempt() -> ExecResult:
            with self._lock:
                self._transport_or_connect()
            if stdout is None and not callable(stdin) and len(stdin or b"") <= SHELL_STDIN_LIMIT:
                result = self._exec_in_shell(cmd, stdin or b"", timeout, cwd)
                if result is not None:
                    return result
            return self._exec_once(cmd, stdin, stdout, timeout, cwd)

        return self._with_retry(attempt, "a remote command")

    def _exec_once(
        self,
        cmd: str,
        stdin: bytes | Callable[[Any], None] | None,
        stdout: Callable[[Any], Any] | None,
        timeout: float | None,
        cwd: str | None,
    ) -> ExecResult:
        transport = self._transport
        if transport is None or not transport.is_active():
            raise _ConnectionLost("not connected")
        shown, cmd = cmd, _in_directory(cmd, cwd)
        channel = transport.open_session(timeout=self.timeout)
        try:
            channel.exec_command(cmd)
            deadline = None if timeout is None else time.monotonic() + timeout
            _set_timeout(channel, deadline)
            try:
                if callable(stdin):
                    _callback(channel, stdin, _ChannelWriter(channel))
                elif stdin:
                    _send(channel, stdin)
            except _RemoteEnded:
                pass  # the command exited without reading all of it: its status and stderr are read below
            if not channel.closed:
                channel.shutdown_write()
            if stdout is not None:
                out = _callback(channel, stdout, _ChannelReader(channel, deadline))
                _drain(channel, deadline)
                err = _read_all_stderr(channel, deadline)
            else:
                out, err = _collect(channel, deadline)
            status = _exit_status(channel, deadline)
            if status == -1 and _link_gone(channel):
                raise _ConnectionLost("the connection closed before the command finished")
            return ExecResult(status, out, err)
        except socket.timeout:
            if not transport.is_active():
                raise _ConnectionLost("connection timed out") from None
            raise CommandTimeout(f"command did not finish within {timeout} s on {self.where}: {shown[:200]}") from None
        finally:
            channel.close()

    # -- the remote shell ------------------------------------------------------------

    def _exec_in_shell(self, cmd: str, stdin: bytes, timeout: float | None, cwd: str | None) -> ExecResult | None:
        """Run ``cmd`` in the connection's remote shell; None when it is busy or unavailable (nothing was run)."""
        if not self._shell_lock.acquire(blocking=False):
            return None  # another thread is using it: this command gets its own channel
        try:
            shell = self._usable_shell()
            if shell is None:
                return None
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                _set_timeout(shell.channel, deadline)
                _send(shell.channel, shell.request(_in_directory(cmd, cwd), stdin))
                returncode, out, err = shell.answer(deadline)
            except ShellUnavailable as why:
                self._refuse_shell(shell, str(why))
                return None
            except socket.timeout:
                self._close_shell()  # still busy with the command: the next one starts a new shell
                if not shell.transport.is_active():
                    raise _ConnectionLost("connection timed out") from None
                raise CommandTimeout(
                    f"command did not finish within {timeout} s on {self.where}: {cmd[:200]}"
                ) from None
            except (ShellEnded, _RemoteEnded) as why:
                self._close_shell()
                if _link_gone(shell.channel):
                    raise _ConnectionLost("the connection closed before the command finished") from None
                logger.debug("the remote shell on %s ended during a command: %s", self.where, why)
                return ExecResult(-1, b"", b"")  # as a command whose channel closed without an exit status
            return ExecResult(returncode, out, err)
        finally:
            self._shell_lock.release()

    def _usable_shell(self) -> RemoteShell | None:
        """The remote shell of this connection, started if need be; None if it cannot start here."""
        transport = self._transport
        shell = self._shell
        if transport is None or self._shell_refused is transport:
            return None
        if shell is None or shell.transport is not transport or shell.ended:  # ended: e.g. a process reaper
            shell = self._start_shell(transport)
            if shell is None:
                return None
        if not shell.ready:
            try:
                shell.wait_ready(time.monotonic() + self.timeout)
            except ShellUnavailable as why:
                self._refuse_shell(shell, str(why))
                return None
        return shell

    def _start_shell(self, transport: paramiko.Transport) -> RemoteShell | None:
        """A new remote shell on ``transport`` (not waited for), or None if no channel can run it."""
        self._close_shell()
        try:
            self._shell = RemoteShell(transport, self.timeout)
        except (paramiko.SSHException, OSError) as err:
            self._shell_refused = transport
            logger.debug("no remote shell on %s (%s): each command gets its own channel", self.where, err)
        return self._shell

    def _refuse_shell(self, shell: RemoteShell, why: str) -> None:
        self._shell_refused = shell.transport
        self._close_shell()
        logger.debug("no remote shell on %s (%s): each command gets its own channel", self.where, why)

    def _close_shell(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            try:
                shell.close()
            except Exception:  # closing on a dead transport may fail in many ways
                pass


def _in_directory(cmd: str, cwd: str | None) -> str:
    """``cmd`` run in ``cwd`` (made if missing; exit code 97 if it cannot be entered)."""
    if cwd is None:
        return cmd
    q = shlex.quote(cwd)
    return f"cd {q} 2>/dev/null || {{ mkdir -p {q} && cd {q}; }} || exit 97\n{cmd}"


class _ChannelWriter:
    """File-like writer over a channel: small writes are gathered, large ones go out as they are (no copy).

    A write is sent before it returns, so the caller may reuse its buffer.
    """

    def __init__(self, channel: paramiko.Channel, bufsize: int = 1 << 20) -> None:
        self.channel = channel
        self.buf = bytearray()
        self.bufsize = bufsize

    def write(self, data: bytes | memoryview) -> int:
        if len(self.buf) + len(data) < self.bufsize:
            self.buf += data
        else:
            self.flush()
            _send(self.channel, data)
        return len(data)

    def flush(self) -> None:
        if self.buf:
            _send(self.channel, bytes(self.buf))
            self.buf.clear()

    def close(self) -> None:
        self.flush()


class _ChannelReader:
    """File-like reader over a channel's stdout, honouring a deadline."""

    def __init__(self, channel: paramiko.Channel, deadline: float | None) -> None:
        self.channel = channel
        self.deadline = deadline

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks: list[bytes] = []
            while True:
                chunk = self.read(1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        _set_timeout(self.channel, self.deadline)
        return self.channel.recv(size)


def _send(channel: paramiko.Channel, data: bytes | memoryview) -> None:
    """Send ``data`` to the command's stdin.

    The channel refuses data once it is closed. That is the command's own end
    (:class:`_RemoteEnded`: stop sending, its status and stderr say the rest)
    unless the connection went down with it (:class:`_ConnectionLost`: retry);
    an error on an open channel is the transport's.
    """
    view = memoryview(data)
    try:
        while view:
            # one packet per call; slicing the view copies nothing (paramiko's sendall copies the rest
            # after every packet, which made a 1 MiB write cost 16 MiB of copying)
            sent = channel.send(cast(bytes, view))  # paramiko copies it into the packet: any buffer will do
            if not sent:
                raise OSError("the channel is closed")
            view = view[sent:]
    except socket.timeout:
        raise
    except OSError as err:
        if not channel.closed or _link_gone(channel):
            raise _ConnectionLost(f"the connection closed while sending ({err})") from None
        raise _RemoteEnded() from None


def _link_gone(channel: paramiko.Channel) -> bool:
    """Whether ``channel`` ended because the connection did, not because its command exited.

    A command's end comes with its exit status; without one, the transport
    decides. Its thread closes the channels just before it marks itself
    inactive, so an active transport is given a moment to show which it is.
    """
    if channel.status_event.is_set() and channel.exit_status >= 0:
        return False
    transport = channel.get_transport()
    deadline = time.monotonic() + LINK_SETTLE
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not transport.is_active()


def _callback(channel: paramiko.Channel, function: Callable[[Any], Any], stream: Any) -> Any:
    """``function(stream)``; a failure is the link's if the connection went down with the channel, else local."""
    try:
        return function(stream)
    except (socket.timeout, _ConnectionLost, _RemoteEnded):
        raise
    except Exception as err:
        if channel.closed and _link_gone(channel):
            raise _ConnectionLost(f"the connection closed during the transfer ({type(err).__name__})") from err
        raise _LocalError(err) from err


def _set_timeout(channel: paramiko.Channel, deadline: float | None) -> None:
    channel.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))


def _collect(channel: paramiko.Channel, deadline: float | None) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    while True:
        if channel.recv_ready():
            out += channel.recv(1 << 20)
            continue
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(1 << 20)
            continue
        if channel.eof_received or channel.closed:
            # all stdout is in; whatever stderr remains is buffered already
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 20)
            while channel.recv_ready():
                out += channel.recv(1 << 20)
            if not channel.recv_ready() and not channel.recv_stderr_ready():
                return bytes(out), bytes(err)
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            raise socket.timeout()
        select.select([channel], [], [], min(wait, 1.0) if wait is not None else 1.0)


def _drain(channel: paramiko.Channel, deadline: float | None) -> None:
    """Read and discard what is left on stdout (e.g. a tar stream's padding) until EOF."""
    _set_timeout(channel, deadline)
    while channel.recv(1 << 20):
        pass


def _read_all_stderr(channel: paramiko.Channel, deadline: float | None) -> bytes:
    err = bytearray()
    _set_timeout(channel, deadline)
    while True:
        chunk = channel.recv_stderr(1 << 20)
        if not chunk:
            return bytes(err)
        err += chunk


def _exit_status(channel: paramiko.Channel, deadline: float | None) -> int:
    if deadline is None:
        return channel.recv_exit_status()
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0.001)):
        raise socket.timeout()
    return channel.exit_status


def _says_encrypted(err: BaseException) -> bool:
    """Whether loading a key without a passphrase failed because the key is encrypted.

    paramiko raises PasswordRequiredException for its own formats; through
    cryptography it is a TypeError ("Key is password-protected, but password was
    not provided." for OpenSSH keys, "Password was not given but private key is
    encrypted" for PEM ones).
    """
    return isinstance(err, paramiko.PasswordRequiredException) or (
        isinstance(err, TypeError) and "password" in str(err).lower()
    )


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _describe(err: BaseException, secrets: list[str]) -> str:
    return _scrub(f"{type(err).__name__}: {err}", secrets)


def _local_user() -> str:
    import getpass

    return getpass.getuser()
