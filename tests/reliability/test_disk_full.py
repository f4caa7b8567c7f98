"""A full disk under Titan's data folder (issue 15, SPEC §3/§8/§11): a real tmpfs mounted as
the data dir, the real simulator behind Titan, then a filler file takes every free block.

Needs root (mount); where mounting is impossible the test fails with a clear message, it
never skips.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan
from titan.app import create_app
from titan.core import Titan
from titan.events import Event

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
H = auth_header()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: Titan's data folder on a disk that can really be filled."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): "
                    f"{done.stderr.strip() or done.returncode}")
    data = mnt / "data"
    data.mkdir()
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_disk(data_dir: Path) -> Path:
    """Take every free block of the data folder's disk with one file; returns the file."""
    filler = data_dir.parent / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    assert os.statvfs(data_dir).f_bavail == 0
    return filler


async def start(data_dir: Path, aiohttp_client: MakeClient) -> tuple[Client, Titan, list[Event]]:
    titan = make_titan(data_dir)
    client = await aiohttp_client(create_app(titan))
    events: list[Event] = []
    titan.bus.subscribe(events.append)
    return client, titan, events


async def test_a_full_disk_is_visible_and_a_refused_write_says_so(
        small_disk: Path, aiohttp_client: MakeClient) -> None:
    client, _titan, events = await start(small_disk, aiohttp_client)
    filler = fill_disk(small_disk)
    try:
        resp = await client.post("/api/console/arm", headers=H,
                                 json={"armed": True, "reason": "disk full test"})
        body = await resp.json()
        # Not a 500 INTERNAL_ERROR: the operator is told the disk is full and what still works.
        assert resp.status == 507, body
        assert body["error"]["code"] == "STORAGE_FULL"
        assert "flatten" in body["error"]["message"].lower()
        resp = await client.get("/health")
        health = await resp.json()
        assert health["status"] != "healthy", health
        disk = health["checks"]["disk"]
        assert disk["ok"] is False and disk["failedWrites"] >= 1 and disk["freeBytes"] >= 0
        metrics = await (await client.get("/metrics")).text()
        assert "titan_disk_free_bytes" in metrics
        failed = [line for line in metrics.splitlines()
                  if line.startswith("titan_storage_write_failures_total")]
        assert failed and float(failed[0].split()[-1]) >= 1, failed
        alerts = [e for e in events if e.name == "DISK_LOW"]
        assert alerts and alerts[0].alert_severity is not None
        assert alerts[0].alert_severity.value == "HIGH"
        # Space back: the refused COMMIT left no open transaction behind, writes work again.
        filler.unlink()
        resp = await client.post("/api/console/arm", headers=H,
                                 json={"armed": True, "reason": "space is back"})
        assert resp.status == 200, await resp.text()
        disk = (await (await client.get("/health")).json())["checks"]["disk"]
        assert "disk full" not in disk.get("detail", ""), disk
    finally:
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()
