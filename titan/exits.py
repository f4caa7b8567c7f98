"""How every `titan` command fails: one line on stderr naming the problem, then an exit
code (never a traceback for something an operator can get wrong)."""

from __future__ import annotations

import sys

from titan.settings import Settings, SettingsError, load_settings

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def fail(message: str, code: int) -> int:
    """One line on stderr, then the exit code: how every `titan` command fails."""
    print(f"titan: {message}", file=sys.stderr, flush=True)
    return code


def settings_or_exit() -> Settings | int:
    """The settings, or the exit code after a one-line error naming the bad setting."""
    try:
        return load_settings()
    except SettingsError as exc:
        return fail(str(exc), EXIT_CONFIG)
