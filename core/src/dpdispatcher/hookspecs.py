"""The hooks through which plugins extend dpdispatcher.

A plugin is a module (or object) named by an entry point in the ``dpdispatcher``
group. It implements any of the hooks below with the ``hookimpl`` marker::

    from dpdispatcher import hookimpl

    @hookimpl
    def register_machines(register):
        register(MyScheduler)

Two kinds of hooks exist:

* **registration hooks** hand the core the classes a plugin provides (the
  pattern of tox 4's ``tox_register_tox_env`` and llm's ``register_models``);
* **phase hooks** let any plugin take part in the four phases of a run —
  script generation, submission, status query and file transfer — without
  subclassing the backend. A backend's own behaviour lives in the methods of
  its Machine or Context class, not in these hooks.

A plugin implementing a hook that is not below (a misspelt name such as
``register_machine``) is not loaded: ``dpdisp plugins`` lists it as a load error.

Order of calls
--------------
Entry points are registered in the order of their names (``local``,
``shell``, ``slurm``, ``ssh``, ...). pluggy calls the implementations of a
hook last registered, first called: the plugin whose entry point name sorts
last runs first, and an object registered later by hand
(``get_registry().pm.register(obj)``) runs before every entry point.
``@hookimpl(tryfirst=True)`` moves an implementation to the front (several
of them: last registered first) and ``@hookimpl(trylast=True)`` to the
back (several of them: first registered first). The registration hooks are
the exception: the core calls them for one plugin at a time, right after
registering it, so they run once per plugin in entry point name order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext
    from dpdispatcher.JobStatus import JobStatus
    from dpdispatcher.machine import Machine
    from dpdispatcher.submission import Job, Submission

PROJECT_NAME = "dpdispatcher"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration ---------------------------------------------------------------


@hookspec
def register_machines(register: Callable[..., None]) -> None:
    """Register Machine subclasses (batch types).

    Call ``register(cls)`` for each class; the batch type name is the class
    name, looked up case-insensitively. ``register(cls, name="Other")`` gives
    another name (an alias) to the same class. A class that is not a concrete
    subclass of ``Machine`` (an abstract method left unimplemented) makes the
    plugin a load error.

    Called once for each plugin, right after it is registered, with only that
    plugin's implementation: plugins register their classes in entry point name
    order. A name two plugins register is unusable until one is uninstalled.
    """


@hookspec
def register_contexts(register: Callable[..., None]) -> None:
    """Register BaseContext subclasses (context types).

    Call ``register(cls)`` for each class. A context is found by its class
    name, case-insensitively, with or without the ``Context`` suffix. A class
    that is not a concrete subclass of ``BaseContext`` makes the plugin a load
    error.

    Called like :func:`register_machines`: once per plugin, in entry point name order.
    """


# -- script generation --------------------------------------------------------


@hookspec
def job_script_env_lines(machine: Machine, job: Job) -> list[str] | None:
    """Return extra shell lines for the environment part of a job script.

    Called while a job's script is generated. The lines go after the
    resources' modules, sources and envs and before the tasks run. Every
    implementation's lines are added, in the order pluggy calls them: last
    registered first, so with entry points ``alpha`` and ``zeta`` the lines of
    ``zeta`` come before those of ``alpha``; a ``tryfirst=True`` implementation's
    lines come before both, a ``trylast=True`` one's after both.
    """


# -- submission ---------------------------------------------------------------


@hookspec
def job_submitted(machine: Machine, job: Job, job_id: str) -> None:
    """Called after the scheduler accepted a job and gave it ``job_id``.

    Implementations run last registered first (see "Order of calls" above).
    """


# -- status query -------------------------------------------------------------


@hookspec
def job_state_changed(job: Job, old_state: JobStatus, new_state: JobStatus) -> None:
    """Called when a status query finds a job in a new state.

    Implementations run last registered first (see "Order of calls" above).
    """


# -- file transfer --------------------------------------------------------------


@hookspec
def files_uploaded(context: BaseContext, submission: Submission, files: list[str]) -> None:
    """Called after ``files`` (relative to the work base) were sent to the remote root.

    Implementations run last registered first (see "Order of calls" above).
    """


@hookspec
def files_downloaded(context: BaseContext, submission: Submission, files: list[str]) -> None:
    """Called after backward ``files`` (patterns relative to the work base) were fetched.

    Implementations run last registered first (see "Order of calls" above).
    """
