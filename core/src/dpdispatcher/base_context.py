"""BaseContext: where a submission's files live and how commands reach them.

A context owns two roots: ``local_root`` (the submission's work base on this
machine) and ``remote_root`` (the job root, where jobs run:
``remote_root/<submission hash>``). It is bound to them once per run with
:meth:`BaseContext.bind`; it holds no reference to the submission.

A plugin implements the abstract primitives; everything else is built on them.

As in the published package, ``BaseContext(context_type="SSHContext", ...)`` and
``BaseContext.load_from_dict({"context_type": ...})`` build the context class the
plugin registry holds under that name, and every context constructor accepts (and
ignores) the ``context_type`` keyword.
"""

from __future__ import annotations

import abc
import os
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpdispatcher import plugins
from dpdispatcher._compat import ContextCompat
from dpdispatcher.commands import STDIN_SCRIPT, chunked_command, script
from dpdispatcher.errors import ConfigError, SchedulerError

if TYPE_CHECKING:
    from dargs import Argument


@dataclass
class CommandResult:
    """The outcome of a command run through a context."""

    returncode: int
    stdout: str
    stderr: str

    def check(self, cmd: str) -> CommandResult:
        if self.returncode != 0:
            raise SchedulerError(
                f"command failed with exit code {self.returncode}: {cmd[:500]}\n{self.stderr.strip() or self.stdout.strip()}"
            )
        return self

    @classmethod
    def of_local_bash(cls, cmd: str, cwd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        """Run ``cmd`` with bash on this machine in ``cwd``, fed ``stdin`` (``None``: an empty input).

        It runs in a session of its own, without the driver's terminal: what it starts in the background
        (a Shell job) is out of reach of the terminal's signals and hangup, as over SSH.
        """
        proc = subprocess.run(
            cmd,
            shell=True,
            executable="/bin/bash",
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin if stdin is not None else "",
            start_new_session=True,
        )
        return cls(proc.returncode, proc.stdout, proc.stderr)


class _ContextFactory(abc.ABCMeta):
    """Metaclass of BaseContext: calling ``BaseContext(context_type=...)`` builds the registered class.

    ``context_type`` is taken off the keywords before any constructor sees it, so a
    plugin's ``__init__`` never has to declare it.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        context_type = kwargs.pop("context_type", None)
        if cls is BaseContext:
            return plugins.get_registry().context_class(_required_context_type(context_type))(*args, **kwargs)
        return super().__call__(*args, **kwargs)


def _required_context_type(context_type: Any) -> str:
    if not context_type:
        raise ConfigError("machine/context_type is required (e.g. LocalContext, SSHContext)")
    return str(context_type)


class BaseContext(ContextCompat, metaclass=_ContextFactory):
    """Abstract context. Subclasses are registered through ``register_contexts``."""

    #: True where the remote root is on this machine's file system.
    is_local = False

    #: remote_profile keys that must never be written anywhere.
    secret_keys: frozenset[str] = frozenset({"password", "passphrase", "totp_secret"})

    def __init__(
        self,
        local_root: str | None = None,
        remote_root: str | None = None,
        remote_profile: dict[str, Any] | None = None,
    ) -> None:
        self.init_local_root = os.path.abspath(local_root or ".")
        self.init_remote_root = remote_root
        self.remote_profile = dict(remote_profile or {})
        self.local_root = self.init_local_root
        self.remote_root: str = remote_root or ""

    # -- construction -----------------------------------------------------

    @classmethod
    def load_from_dict(cls, context_dict: dict[str, Any]) -> BaseContext:
        """Build a context from a machine dict.

        On ``BaseContext`` the class is the one registered as ``context_type``, whose own
        ``load_from_dict`` reads the dict (a plugin may override it to read more keys); on a
        concrete class (``LocalContext.load_from_dict``) that class is built, as the published
        package does.
        """
        if cls is BaseContext:
            context_cls = plugins.get_registry().context_class(_required_context_type(context_dict.get("context_type")))
            return context_cls.load_from_dict(context_dict)
        context: BaseContext = cls(
            local_root=context_dict.get("local_root"),
            remote_root=context_dict.get("remote_root"),
            remote_profile=context_dict.get("remote_profile") or {},
        )
        return context

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        """dargs fields this context adds to the machine config (default: an empty remote_profile)."""
        from dargs import Argument

        return [
            Argument(
                "remote_profile",
                dict,
                optional=True,
                default={},
                doc="The information used to maintain the connection with remote machine. This field is empty for this context.",
            )
        ]

    @classmethod
    def machine_arginfo(cls) -> Argument:
        from dargs import Argument

        return Argument(cls.__name__, dict, cls.machine_subfields())

    def public_profile(self) -> dict[str, Any]:
        """The remote profile without secrets: what may go into hashes, records and logs."""
        return {k: v for k, v in self.remote_profile.items() if k not in self.secret_keys}

    def bind(self, work_base: str, submission_hash: str) -> None:
        """Point the context at one submission: its work base (under local_root) and its job root."""
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, work_base))
        self.remote_root = self.job_root(submission_hash)

    def job_root(self, submission_hash: str) -> str:
        """Where the submission ``submission_hash`` keeps its job root (:meth:`bind` points ``remote_root`` there)."""
        if not self.init_remote_root:
            raise ConfigError(f"machine/remote_root is required for {type(self).__name__}")
        return os.path.join(self.init_remote_root, submission_hash)

    # -- built on the primitives ---------------------------------------------

    def run_script(self, lines: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run ``lines`` (one step each) as one script sent on standard input: one round trip, any length."""
        return self.run(STDIN_SCRIPT, timeout=timeout, stdin=script(lines))

    def files_exist(self, fnames: list[str]) -> set[str]:
        """Which of ``fnames`` (files or directories, relative to the remote root) exist.

        Override to ask in one round trip (the default asks :meth:`check_file_exists` once per name).
        """
        return {f for f in fnames if self.check_file_exists(f)}

    def write_files(self, files: dict[str, str]) -> None:
        """Write several text files. Override to send them in one round trip."""
        for fname, text in files.items():
            self.write_file(fname, text)

    def clean_finished(self, generated: Collection[str], task_dirs: Collection[str]) -> None:
        """Remove, while the run goes on, what finished jobs left whose results are back: the ``generated``
        names and the ``task_dirs`` with everything in them (names relative to the job root).

        The core passes only task directories that no other job uses. Default: one script of ``rm -rf``
        over :meth:`run` (which runs in the job root). A context whose job root is the user's work
        base removes only ``generated``; one where a command is costly may keep everything for :meth:`clean`.
        """
        names = [*generated, *task_dirs]
        if names:
            self.run_script(chunked_command(["rm", "-rf", "--"], names)).check("removing finished jobs' files")

    def close(self) -> None:
        """Release connections. Default: nothing to release."""

    # -- primitives each context implements -----------------------------------

    @abc.abstractmethod
    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        """Copy ``local_root/f`` to ``remote_root/f`` for each relative file or directory ``f``.

        ``dirs`` are directories (relative to the remote root) to create even if empty.
        """

    @abc.abstractmethod
    def download_files(self, patterns: list[str]) -> list[str]:
        """Copy ``remote_root/p`` (globs expanded remotely) to ``local_root/p``; return patterns that matched nothing."""

    @abc.abstractmethod
    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        """Run a shell command in the remote root, feeding it ``stdin`` (none: an empty input)."""

    @abc.abstractmethod
    def write_file(self, fname: str, write_str: str) -> None:
        """Write a text file (relative to the remote root), replacing it whole."""

    @abc.abstractmethod
    def read_file(self, fname: str) -> str:
        """Read a text file relative to the remote root."""

    @abc.abstractmethod
    def check_file_exists(self, fname: str) -> bool:
        """Whether a file relative to the remote root exists."""

    @abc.abstractmethod
    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove what the run left: the job root, or, where the job root is the work base
        (LazyLocalContext), only the ``generated`` files (names relative to the job root)."""
