"""Crash points: named places where the crash test may kill Titan with SIGKILL.

Inert unless `TITAN_CRASH_AT=name[:n]` is set in the environment: then the n-th time
(default 1st) execution passes `crashpoint(name)`, the process kills itself with
SIGKILL, exactly as `kill -9` would, at that instant. This is how the crash test
proves rule 2 ("a kill -9 at any instant, followed by a restart, ends with local state
equal to the venue's") at the instants that matter most. Production never sets it.

Before the kill the point announces itself: one line `CRASHPOINT name=<name> count=<n>
pid=<pid>` written with a raw `os.write` (no Python buffering to lose) and fsynced to the
file named by `TITAN_CRASH_REPORT` (standard error when unset). The crash test reads it
to prove each run died at its named point, not some other way.

An unknown name in `TITAN_CRASH_AT` is refused at import: a typo would otherwise be a
crash point that silently never fires.
"""

from __future__ import annotations

import os
import signal

# Every crash point Titan has (the crash test checks each is called in the code and
# killed at at least once).
POINTS: tuple[str, ...] = (
    "after_intent_commit",  # execution: the intent + PENDING order are committed, not sent
    "after_send",  # execution: the venue accepted the order, nothing recorded yet
    "after_venue_order",  # execution: the venue's answer recorded
    "after_unknown",  # execution: a lost answer recorded the order as UNKNOWN
    "after_cancel",  # execution: a cancel answered, its result not yet recorded
    "mid_flatten",  # execution: between the closes of a flatten
    "before_fill_commit",  # stream sync: an execution arrived, not yet committed
    "after_fill_commit",  # stream sync: an execution committed
    "mid_reconcile",  # reconciler: missed fills recorded, the rest not yet synced
    "mid_scheduled_reconcile",  # reconciler: the same instant, in a run from the schedule
    "mid_order_sync",  # reconciler: looking up a live order the venue no longer lists
)

_target: str | None = None
_remaining = 0
_count = 0


def _load() -> None:
    global _target, _remaining
    spec = os.environ.get("TITAN_CRASH_AT", "")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"TITAN_CRASH_AT: unknown crash point {name!r} (known: {', '.join(POINTS)})")
    _target, _remaining = name, int(count or "1")


_load()


def _announce(name: str, count: int) -> None:
    line = f"CRASHPOINT name={name} count={count} pid={os.getpid()}\n".encode()
    path = os.environ.get("TITAN_CRASH_REPORT")
    if not path:
        os.write(2, line)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def crashpoint(name: str) -> None:
    global _remaining, _count
    if _target is None or name != _target:
        return
    _count += 1
    _remaining -= 1
    if _remaining <= 0:
        _announce(name, _count)
        os.kill(os.getpid(), signal.SIGKILL)
