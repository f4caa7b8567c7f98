"""A running Titan with TITAN_NOTIFY_URLS pointing at a local HTTP receiver sends the
operator the breaker-trip, halt and flatten messages, each saying what, why and what to do."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import auth_header, make_titan
from tests.notify.receiver import Receiver
from titan.app import create_app


async def test_breaker_halt_and_flatten_reach_the_operator(tmp_path: Path,
                                                           receiver: Receiver) -> None:
    titan = make_titan(tmp_path / "data", notify_urls=receiver.url)
    titan.notifier.coalesce_s = 0.01  # one message per action, not a digest
    async with TestClient(TestServer(create_app(titan))) as client:
        started = await receiver.wait_for("Titan started")
        assert "Master Arm" in started["message"]

        await titan.risk.trip_breaker("daily loss 5.2% over the 5% limit", "test")
        trip = await receiver.wait_for("Circuit breaker TRIPPED")
        assert "What:" in trip["message"] and "daily loss 5.2%" in trip["message"]
        assert "reset the breaker" in trip["message"]  # what the operator can do

        resp = await client.post("/api/system/halt", headers=auth_header(),
                                 json={"state": "SOFT_HALT", "reason": "volatility spike"})
        assert resp.status == 200
        halt = await receiver.wait_for("Halt state OPEN -> SOFT_HALT")
        assert "volatility spike" in halt["message"]
        assert "titan halt OPEN" in halt["message"]

        resp = await client.post("/api/emergency/flatten", headers=auth_header(), json={})
        assert resp.status == 200
        flat = await receiver.wait_for("Flatten all")
        assert "DONE" in flat["message"] and "0 position(s) closed" in flat["message"]
        assert "Positions tab" in flat["message"]

        metrics = await (await client.get("/metrics")).text()
        status = await (await client.get("/api/status", headers=auth_header())).json()
    sent = {s.labels["result"]: s.value for f in text_string_to_metric_families(metrics)
            if f.name == "titan_notifications" for s in f.samples if s.name.endswith("_total")}
    assert sent["sent"] >= 3 and sent["failed"] == 0  # started, trip, halt (flatten may be in flight)
    assert status["notifications"]["enabled"] and status["notifications"]["sent"] >= 3
    # Stopping flushes the last message: the operator hears Titan went away.
    await receiver.wait_for("Titan stopping")
