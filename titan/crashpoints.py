"""Crash points: named places where the crash test may kill Titan with SIGKILL.

Inert unless `TITAN_CRASH_AT=name[:n]` is set in the environment: then the n-th time
(default 1st) execution passes `crashpoint(name)`, the process kills itself with
SIGKILL, exactly as `kill -9` would, at that instant. This is how the crash test
proves rule 2 ("a kill -9 at any instant, followed by a restart, ends with local state
equal to the venue's") at the instants that matter most. Production never sets it.

Points: after_intent_commit, after_send, after_venue_order, after_cancel (execution
engine); before_fill_commit, after_fill_commit (stream sync); mid_flatten; mid_reconcile,
mid_order_sync (reconciler).
"""

from __future__ import annotations

import os
import signal

_target: str | None = None
_remaining = 0


def _load() -> None:
    global _target, _remaining
    spec = os.environ.get("TITAN_CRASH_AT", "")
    if not spec:
        return
    name, _, count = spec.partition(":")
    _target, _remaining = name, int(count or "1")


_load()


def crashpoint(name: str) -> None:
    global _remaining
    if _target is None or name != _target:
        return
    _remaining -= 1
    if _remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
