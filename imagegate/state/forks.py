"""Which process this is, as far as state goes: a token that changes in a forked child.

A forked child inherits its parent's objects but must not use its SQLite connections or writer
thread (it has no threads). Compared on every state write, so read from memory, not asked of
the kernel (`os.getpid()` is a system call on every call).
"""

from __future__ import annotations

import itertools
import os

__all__ = ["this_process"]

_tokens = itertools.count()
_current = next(_tokens)


def _forked() -> None:
    global _current
    _current = next(_tokens)


os.register_at_fork(after_in_child=_forked)


def this_process() -> int:
    """A token of this process: the same until it forks, another in the child."""
    return _current
