"""Exceptions a user may see. Each message says what went wrong and what to do."""

from __future__ import annotations


class DispatcherError(Exception):
    """Base class of every error raised on purpose by dpdispatcher."""


class ConfigError(DispatcherError, ValueError):
    """A machine, resources, task or submission description is invalid."""


class PluginNotFoundError(ConfigError, KeyError):
    """A batch type or context name that no installed plugin provides."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class PluginConflictError(DispatcherError):
    """Two plugins claim the same batch type or context name."""


class PluginLoadError(DispatcherError):
    """A plugin was found but cannot be used: it implements an unknown hook or registers an unusable class.

    ``plugin`` is its entry point name, ``distribution`` the distribution declaring it, and
    ``detail`` what is wrong, without the plugin's name.
    """

    def __init__(self, plugin: str, distribution: str, detail: str) -> None:
        super().__init__(f"plugin {plugin!r} ({distribution}): {detail}")
        self.plugin = plugin
        self.distribution = distribution
        self.detail = detail


class RecordError(ConfigError):
    """A submission record that cannot be read or is not the shape a record has."""


class SubmissionLockedError(DispatcherError):
    """Another driver is running the same submission."""


class UnsafePathError(ConfigError):
    """A task directory or file entry points outside the submission's work base."""


class MissingForwardFileError(ConfigError, FileNotFoundError):
    """A file listed for upload does not exist locally."""


class MissingBackwardFileError(DispatcherError, FileNotFoundError):
    """A finished task did not leave a file listed for download."""


class DiskFullError(DispatcherError, OSError):
    """A disk filled up while dpdispatcher wrote to it; what was written before is whole."""


class SubmissionFailedError(DispatcherError, RuntimeError):
    """Some tasks kept failing after every allowed retry."""


class SchedulerError(DispatcherError, RuntimeError):
    """The scheduler refused a command or answered something unexpected.

    When submitting several jobs stopped at a refused one, ``submitted`` holds the
    ids of the jobs accepted before it, in order, and ``output`` what the command printed.
    """

    def __init__(self, message: str, submitted: list[str] | None = None, output: str = "") -> None:
        super().__init__(message)
        self.submitted = list(submitted or [])
        #: what the scheduler's command printed, when the error comes from one
        self.output = output


class SchedulerBusyError(SchedulerError):
    """The scheduler refuses for now (controller down, submit limit reached): try again later."""
