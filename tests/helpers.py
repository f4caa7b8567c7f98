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


def _port_slice() -> range:
    """This process's share of _PORT_RANGE. Under pytest-xdist (scripts/test runs 3
    workers) worker gwN draws from the N-th slice only: two workers can never hand out the
    same port in the seconds between the pick and a child process binding it."""
    lo, hi = _PORT_RANGE
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if count > 1 and worker.startswith("gw") and worker[2:].isdigit():
        size = (hi - lo) // count
        lo += (int(worker[2:]) % count) * size
        hi = lo + size
    return range(lo, hi)


_next_port: list[int] = []  # where this process's walk through its slice has got to


def free_port() -> int:
    """A loopback TCP port nobody listens on, outside the ephemeral range.

    Ports are walked in turn from a random start, so one process never hands out the same
    port twice (until its slice wraps): two servers of one test cannot be given one port."""
    ports = _port_slice()
    if not _next_port:
        _next_port.append(random.randrange(len(ports)))
    for _ in range(min(len(ports), 400)):
        port = ports[_next_port[0] % len(ports)]
        _next_port[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {ports}")


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


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> int:
    """Poll until the URL answers (any HTTP status); returns the status.

    60 s: a `titan run` needs ~3.5 s of CPU to answer; with the suite on 3-4 xdist workers
    (each perhaps starting one) on a shared 2-core machine, 20 s was seen to run out."""
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
