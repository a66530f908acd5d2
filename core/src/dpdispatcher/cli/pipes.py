"""Ending quietly when the reader of our output goes away (``dpdisp doc machine | head``).

Python ignores SIGPIPE, so writing to a pipe whose reader has exited raises
BrokenPipeError, and the interpreter would print a traceback (or "Exception ignored"
when it flushes stdout on exit). Unix tools end silently instead. What the Python
documentation recommends is done here: stdout is pointed at /dev/null, so that the
final flush has nowhere to fail, and the command exits with the status of a process
ended by SIGPIPE. A BrokenPipeError that is not about stdout (a pipe to a child
process, say) is a real error and is not hidden.
"""

from __future__ import annotations

import os
import select
import signal
import sys

#: what a shell reports for a process ended by SIGPIPE
EXIT_STATUS = 128 + int(getattr(signal, "SIGPIPE", 13))


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reading end is closed."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor
        return False
    if not hasattr(select, "poll"):  # no way to ask: trust the error
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered is dropped and the exit flush succeeds."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
