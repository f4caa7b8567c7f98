"""`titan sim` as its own process: prints its URL, answers, exits 0 on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from pybit.unified_trading import HTTP

from tests.helpers import free_port

from .conftest import call

ROOT = Path(__file__).resolve().parents[2]


async def test_titan_sim_subprocess() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "titan", "sim", "--port", str(port), "--api-key", "k1",
        "--api-secret", "s1", "--api-key", "k2", "--api-secret", "s2", "--seed", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert f"http://127.0.0.1:{port}" in line
        http = HTTP(testnet=False, api_key="k2", api_secret="s2", retry_codes={-1})
        http.endpoint = f"http://127.0.0.1:{port}"
        res = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                         orderType="Market", qty="0.001", orderLinkId="sa-1")
        assert res["retCode"] == 0
        w = await call(http.get_wallet_balance, accountType="UNIFIED")
        assert w["result"]["list"][0]["coin"][0]["coin"] == "USDT"
    finally:
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(proc.wait(), 15)
    assert rc == 0, (await proc.stderr.read()).decode() if proc.stderr else ""
