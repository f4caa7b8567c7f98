"""`titan run` in the paper profile, ARMED through the API: the Scavenger trades on its own.

Nothing drives the market here: the built-in simulator's live generator (level bursts,
`TITAN_SIM_BURSTS_PER_MINUTE`) must spring an armed trap and the entry must fill.
Bounded at 4 minutes; the time it took is printed (pytest -s shows it).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import auth_header, start_titan, titan_env, wait_http

LIMIT_S = 240.0
# A busier market than the default 4 level bursts a minute per symbol, so a spring comes
# well within the bound on a loaded 2-core CI machine; the rule tested is the same.
BURSTS_PER_MINUTE = "12"


def _call(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method="GET" if body is None else "POST",
                                 headers={**auth_header(), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.timeout(LIMIT_S + 150)  # start-up, ARM, the spring bound and a clean stop
def test_armed_paper_titan_springs_a_trap_and_fills(tmp_path: Path, free_port: int) -> None:
    log = tmp_path / "titan.log"
    env = titan_env(tmp_path / "data", free_port, TITAN_SIM_BURSTS_PER_MINUTE=BURSTS_PER_MINUTE)
    proc = start_titan(["run"], env, log)
    try:
        wait_http(f"http://127.0.0.1:{free_port}/health", timeout=60, proc=proc)
        t0 = time.monotonic()
        while True:
            status, body = _call(free_port, "/api/console/arm", {"armed": True, "reason": "test"})
            if status == 200 and body.get("armed"):
                break
            assert time.monotonic() - t0 < 60, f"could not ARM: {status} {body}"
            time.sleep(0.5)
        armed_at = time.monotonic()
        _, st = _call(free_port, "/api/status")
        assert st["scavenger"]["running"] is True, st["scavenger"]
        text = ""
        while time.monotonic() - armed_at < LIMIT_S:
            assert proc.poll() is None, log.read_text()
            text = log.read_text()
            sprung = [ln for ln in text.splitlines() if "TRAP_SPRUNG" in ln and " order " in ln]
            if sprung and "ORDER_FILLED" in text:
                break
            time.sleep(1.0)
        took = time.monotonic() - armed_at
        print(f"paper: first TRAP_SPRUNG with an order and ORDER_FILLED {took:.0f} s after ARM")
        assert "TRAP_SPRUNG" in text and "ORDER_FILLED" in text, (
            f"no spring + fill within {LIMIT_S:.0f} s of ARM:\n"
            + "\n".join(ln for ln in text.splitlines()
                        if "TRAP" in ln or "SIGNAL_REJECTED" in ln or "ORDER" in ln)[-4000:])
        _, st = _call(free_port, "/api/status")
        assert st["scavenger"]["sprung"], st["scavenger"]
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    assert rc == 0, log.read_text()[-3000:]
