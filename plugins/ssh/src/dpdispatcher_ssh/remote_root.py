"""Where a configured ``remote_root`` is on the remote host.

Published configs give SSH remote roots as ``~/work``, ``~user/work``, ``work``
or even an empty string, which 1.1.0 accepts. They name a place relative to
the account on the remote side, so they are resolved there: ``~`` is the
login's home, ``~user`` that user's home, and anything else relative (the empty
string included) is taken from the login directory, where 1.1.0's SFTP calls
put it too. An absolute root needs no lookup.
"""

from __future__ import annotations

import posixpath
import re

from dpdispatcher.errors import ConfigError
from dpdispatcher_ssh.session import SSHSession

#: prefix of the line that carries the answer (login scripts may print their own lines)
MARK = "DPD_REMOTE_DIR:"
#: the user names a ``~user`` prefix may hold: POSIX portable names, so the word is safe unquoted
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: bound on the lookup command, in seconds
LOOKUP_TIMEOUT = 60


def needs_remote_lookup(configured: str) -> bool:
    """Whether ``configured`` names a place only the remote host can resolve."""
    return not posixpath.isabs(configured)


def resolve_on_remote(configured: str, session: SSHSession) -> str:
    """The absolute directory ``configured`` names on the host of ``session`` (one command over it)."""
    anchor, rest = split_anchor(configured)
    result = session.exec(lookup_command(anchor), timeout=LOOKUP_TIMEOUT)
    said = (result.stdout + b"\n" + result.stderr).decode(errors="replace")
    answer = parse_answer(configured, anchor, said, session.where)
    return join_rest(answer, rest)


def split_anchor(configured: str) -> tuple[str, str]:
    """``(anchor, rest)``: the tilde word (``~``, ``~user``) or ``""`` for the login directory, and the relative rest."""
    if not configured.startswith("~"):
        return "", configured
    word, _, rest = configured.partition("/")
    rest = rest.lstrip("/")  # "~//x" is "~/x", not "/x"
    user = word[1:]
    if user and not _USER_NAME.fullmatch(user):
        raise ConfigError(
            f"machine/remote_root {configured!r}: {word!r} is not a user name the remote shell can expand "
            "(letters, digits, '.', '_' and '-'); give the absolute path instead"
        )
    return word, rest


def lookup_command(anchor: str) -> str:
    """A POSIX shell command printing the anchor's absolute directory after :data:`MARK`.

    The tilde word stays unquoted so that the remote shell expands it; :func:`split_anchor`
    allowed only a plain user name in it.
    """
    word = anchor if anchor else '"$(pwd)"'
    return f"printf '{MARK}%s\\n' {word}"


def parse_answer(configured: str, anchor: str, said: str, where: str) -> str:
    """The anchor's directory from what the lookup ``said``; a clear error if the remote side could not tell it."""
    answers = [line[len(MARK) :] for line in said.splitlines() if line.startswith(MARK)]
    found = answers[-1] if answers else ""
    if anchor.startswith("~") and len(anchor) > 1 and found == anchor:
        raise ConfigError(
            f"machine/remote_root {configured!r}: there is no user {anchor[1:]!r} on {where} "
            "(the remote shell left it unexpanded); give the absolute path instead"
        )
    if not posixpath.isabs(found):
        what = f"the home directory ({anchor})" if anchor else "the login directory"
        raise ConfigError(
            f"machine/remote_root {configured!r}: cannot tell {what} on {where} (the remote shell said "
            f"{said.strip()[-500:]!r}); give the absolute path instead"
        )
    return found


def join_rest(anchor_dir: str, rest: str) -> str:
    """The absolute root: ``rest`` taken from ``anchor_dir``."""
    return posixpath.normpath(posixpath.join(anchor_dir, rest))
