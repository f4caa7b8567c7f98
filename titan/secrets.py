"""Secrets that have no default: the console password and the kill code.

When the operator has not set TITAN_CONSOLE_PASSWORD / TITAN_KILL_CODE, a random value
is generated on first run and stored in the data folder with mode 0600. Only when
stderr is a terminal (someone is watching `titan run`) is the value shown, once. Under
PM2, systemd or a pipe, stderr goes to a log file that outlives the moment (PM2 keeps
`titan-core-error.log`): there Titan prints only where the secrets are, never the
values. Later runs read the stored value and print nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from titan.logs import register_secret
from titan.settings import Settings

SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class RuntimeSecrets:
    console_user: str
    console_password: str
    kill_code: str


def _load(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path} is unreadable ({exc}); delete it to generate new secrets") from None
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _store(path: Path, data: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def resolve_secrets(settings: Settings, announce: bool = True) -> RuntimeSecrets:
    path = settings.data_dir / SECRETS_FILE
    stored = _load(path)
    generated: dict[str, str] = {}

    password = settings.console_password.get_secret_value() if settings.console_password else ""
    if not password:
        password = stored.get("console_password", "")
        if not password:
            password = generated["console_password"] = secrets.token_urlsafe(18)
    kill_code = settings.kill_code.get_secret_value() if settings.kill_code else ""
    if not kill_code:
        kill_code = stored.get("kill_code", "")
        if not kill_code:
            kill_code = generated["kill_code"] = f"{secrets.randbelow(10**6):06d}"

    if generated:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _store(path, {**stored, **generated})
        if announce:
            _announce(path, settings.console_user, generated)

    for value in (password, kill_code):
        register_secret(value)
    for opt in (settings.bybit_api_secret, settings.binance_api_secret, settings.bybit_api_key,
                settings.binance_api_key, settings.nats_password, settings.nats_token):
        if opt is not None:
            register_secret(opt.get_secret_value())
    if settings.nats_url:  # nats://user:password@host or nats://token@host
        parts = urlsplit(settings.nats_url)
        register_secret(parts.password if parts.password is not None else parts.username)
    return RuntimeSecrets(settings.console_user, password, kill_code)


def _announce(path: Path, user: str, generated: dict[str, str]) -> None:
    """Tell the operator about generated secrets without leaving them in a log file."""
    if sys.stderr.isatty():
        # Shown once, on the terminal only: the log redacts these values.
        lines = [f"Titan generated secrets (stored 0600 in {path}, shown only this once):"]
        if "console_password" in generated:
            lines.append(f"  console user: {user}  password: {generated['console_password']}")
        if "kill_code" in generated:
            lines.append(f"  kill switch confirmation code: {generated['kill_code']}")
    else:
        what = " and ".join({"console_password": "the console password",
                             "kill_code": "the kill switch code"}[k] for k in generated)
        lines = [f"Titan generated {what}; not printed here because this output may be kept "
                 f"in a log. Read them from {path} (mode 0600): "
                 f"sudo cat {path}"]
    print("\n".join(lines), file=sys.stderr, flush=True)
