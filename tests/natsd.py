"""The real nats-server for tests, started with the shipped scripts/ops/nats-server.conf
(credentials demanded, per-user permissions) or, to prove Titan refuses it, without auth."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "scripts" / "ops" / "nats-server.conf"
TITAN_USER, TITAN_PASSWORD = "titan", "titan-bus-secret-1"
OPERATOR_USER, OPERATOR_PASSWORD = "operator", "operator-bus-secret-2"


class NatsServer:
    def __init__(self, port: int, log: Path, auth: bool = True) -> None:
        self.port, self.log, self.auth = port, log, auth
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def titan_url(self) -> str:
        """The URL Titan is given: its own user's credential in it."""
        return f"nats://{TITAN_USER}:{TITAN_PASSWORD}@127.0.0.1:{self.port}"

    @property
    def operator_url(self) -> str:
        return f"nats://{OPERATOR_USER}:{OPERATOR_PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("nats-server")
        assert exe, "nats-server is not installed (scripts/test installs it)"
        args = [exe, "-a", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ)
        if self.auth:
            # The shipped file as is; only the address and the port are overridden.
            args[1:1] = ["-c", str(CONF)]
            env.update(TITAN_NATS_PASSWORD=TITAN_PASSWORD,
                       NATS_OPERATOR_PASSWORD=OPERATOR_PASSWORD)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"), env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nats-server exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
