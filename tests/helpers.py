"""Helpers shared by tests: building an in-process Titan and running `titan` as a process."""

from __future__ import annotations

import base64
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from titan.clock import Clock
from titan.core import Titan
from titan.secrets import RuntimeSecrets
from titan.settings import Settings

# Listening ports for servers the tests start. Chosen below the kernel's ephemeral range
# (ip_local_port_range, 32768-60999 by default): a port the kernel handed out with bind(0)
# and released can be taken as the source port of any outgoing connection before the
# server binds it, which made tests fail now and then under load.
_PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A loopback TCP port nobody listens on, outside the ephemeral range."""
    for _ in range(200):
        port = random.randrange(*_PORT_RANGE)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


USER, PASSWORD, KILL_CODE = "titan_admin", "test-password-123", "424242"
SECRETS = RuntimeSecrets(USER, PASSWORD, KILL_CODE)


def auth_header(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def make_titan(data_dir: Path, clock: Clock | None = None, **settings: Any) -> Titan:
    s = Settings(data_dir=data_dir, _env_file=None, **settings)  # type: ignore[call-arg]
    return Titan(s, clock=clock, secrets=SECRETS)


def titan_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITAN_")}
    env.update({
        "TITAN_DATA_DIR": str(data_dir),
        "TITAN_PORT": str(port),
        "TITAN_CONSOLE_PASSWORD": PASSWORD,
        "TITAN_KILL_CODE": KILL_CODE,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def start_titan(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "titan", *args], env=env, stdout=fh,
                            stderr=subprocess.STDOUT, cwd=log.parent)


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> int:
    """Poll until the URL answers (any HTTP status); returns the status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")
