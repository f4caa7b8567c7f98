"""A real `titan run` on loopback for the tests that talk to it as an operator would."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, USER, start_titan, titan_env, wait_http

SEEDED_TAG = "2024-12-13T10:30:00Z"  # the tag the manual's rollback command names


@dataclass
class RunningTitan:
    base: str
    port: int
    data: Path
    log: Path
    env: dict[str, str]


def seed_version(data: Path, env: dict[str, str], config: dict[str, object],
                 tag: str = SEEDED_TAG) -> None:
    """Migrate a fresh database and write one config version, as if made on that date."""
    res = subprocess.run([sys.executable, "-m", "titan", "migrate"], env=env, cwd=data.parent,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    con = sqlite3.connect(data / "titan.db")
    with con:
        con.execute(
            "INSERT INTO config_versions(version_tag, config, created_at, actor, source, reason)"
            " VALUES (?,?,?,?,?,?)",
            (tag, json.dumps(config), tag, USER, "api", "seeded by the test"))
    con.close()


@pytest.fixture
def titan_proc(tmp_path: Path, free_port: int, request: pytest.FixtureRequest) -> Iterator[RunningTitan]:
    """`titan run` on a fresh data folder; a test marks `seed` to pre-load a version."""
    data = tmp_path / "data"
    data.mkdir()
    env = titan_env(data, free_port)
    marker = request.node.get_closest_marker("seed_config")
    if marker is not None:
        seed_version(data, env, marker.args[0])
    log = tmp_path / "titan.log"
    proc = start_titan(["run"], env, log)
    try:
        wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc)
        yield RunningTitan(f"http://127.0.0.1:{free_port}", free_port, data, log, env)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "seed_config(config): pre-load a config version")


__all__ = ["PASSWORD", "SEEDED_TAG", "USER", "RunningTitan"]
