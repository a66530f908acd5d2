"""BaseContext: where a submission's files live and how commands reach them.

A context owns two roots: ``local_root`` (the submission's work base on this
machine) and ``remote_root`` (where jobs run: ``remote_root/<submission hash>``).
Subclasses implement the primitives at the bottom of the class; the core calls
:meth:`upload`, :meth:`download` and the file/command methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpdispatcher import plugins
from dpdispatcher.errors import ConfigError, SchedulerError

if TYPE_CHECKING:
    from dargs import Argument

    from dpdispatcher.submission import Submission


@dataclass
class CommandResult:
    """The outcome of a command run through a context."""

    returncode: int
    stdout: str
    stderr: str

    def check(self, cmd: str) -> CommandResult:
        if self.returncode != 0:
            raise SchedulerError(
                f"command failed with exit code {self.returncode}: {cmd}\n{self.stderr.strip() or self.stdout.strip()}"
            )
        return self


class _ReadableText:
    """File-like wrapper so ``block_call`` keeps the published package's return shape."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> bytes:
        return self._text.encode()

    def readlines(self) -> list[bytes]:
        return [line.encode() for line in self._text.splitlines(keepends=True)]


class BaseContext:
    """Abstract context. Subclasses are registered through ``register_contexts``."""

    #: True where the remote root is on this machine's file system.
    is_local = False

    def __init__(
        self, local_root: str | None = None, remote_root: str | None = None, remote_profile: dict | None = None
    ):
        self.init_local_root = os.path.abspath(local_root or ".")
        self.init_remote_root = remote_root
        self.remote_profile = dict(remote_profile or {})
        self.local_root = self.init_local_root
        self.remote_root = remote_root
        self.submission: Submission | None = None

    # -- construction -----------------------------------------------------

    @classmethod
    def load_from_dict(cls, context_dict: dict[str, Any]) -> BaseContext:
        """Build the context named by ``context_type`` from a machine dict."""
        name = context_dict.get("context_type")
        if not name:
            raise ConfigError("machine/context_type is required (e.g. LocalContext, SSHContext)")
        context_cls = plugins.get_registry().context_class(name)
        return context_cls(
            local_root=context_dict.get("local_root"),
            remote_root=context_dict.get("remote_root"),
            remote_profile=context_dict.get("remote_profile") or {},
        )

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

    #: remote_profile keys that must never be written anywhere.
    secret_keys: frozenset[str] = frozenset({"password", "passphrase", "totp_secret"})

    def bind_submission(self, submission: Submission) -> None:
        self.submission = submission
        self.local_root = os.path.abspath(os.path.join(self.init_local_root, submission.work_base))
        self.remote_root = self._job_root(submission.submission_hash)

    def _job_root(self, submission_hash: str) -> str:
        if not self.init_remote_root:
            raise ConfigError(f"machine/remote_root is required for {type(self).__name__}")
        return os.path.join(self.init_remote_root, submission_hash)

    def get_job_root(self) -> str:
        return self.remote_root

    # -- what the core calls ------------------------------------------------

    def upload(self, submission: Submission) -> None:
        """Send the submission's forward files and common files to the remote root."""
        submission.upload_jobs()

    def download(
        self,
        submission: Submission,
        check_exists: bool = False,
        mark_failure: bool = True,
        back_error: bool = False,
    ) -> None:
        """Fetch the backward files of every task and the backward common files."""
        submission.download_jobs()

    def files_exist(self, fnames: list[str]) -> set[str]:
        """Which of ``fnames`` (relative to the remote root) exist. Override to ask in one round trip."""
        return {f for f in fnames if self.check_file_exists(f)}

    def write_files(self, files: dict[str, str]) -> None:
        """Write several text files. Override to send them in one round trip."""
        for fname, text in files.items():
            self.write_file(fname, text)

    def block_checkcall(self, cmd: str) -> tuple[None, _ReadableText, _ReadableText]:
        result = self.run(cmd).check(cmd)
        return None, _ReadableText(result.stdout), _ReadableText(result.stderr)

    def block_call(self, cmd: str) -> tuple[int, None, _ReadableText, _ReadableText]:
        result = self.run(cmd)
        return result.returncode, None, _ReadableText(result.stdout), _ReadableText(result.stderr)

    def close(self) -> None:
        """Release connections. Default: nothing to release."""

    # -- primitives each context implements -----------------------------------

    def upload_files(self, files: list[str], dirs: list[str] = ()) -> None:
        """Copy ``local_root/f`` to ``remote_root/f`` for each relative file or directory ``f``.

        ``dirs`` are directories (relative to the remote root) to create even if empty.
        """
        raise NotImplementedError

    def download_files(self, patterns: list[str]) -> list[str]:
        """Copy ``remote_root/p`` (globs expanded remotely) to ``local_root/p``; return patterns that matched nothing."""
        raise NotImplementedError

    def run(self, cmd: str, timeout: float | None = None) -> CommandResult:
        """Run a shell command with the remote root as working directory."""
        raise NotImplementedError

    def write_file(self, fname: str, write_str: str) -> None:
        raise NotImplementedError

    def read_file(self, fname: str) -> str:
        raise NotImplementedError

    def check_file_exists(self, fname: str) -> bool:
        raise NotImplementedError

    def clean(self) -> None:
        """Remove the remote root of the bound submission."""
        raise NotImplementedError
