"""The "briefing ready" push through the notifier and the daily summary's AI Quant
paragraph (the `DailySummary.sections` hook), against the apprise receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.helpers import make_titan
from tests.notify.receiver import Receiver
from titan.api.quant import QUANT
from titan.app import create_app
from titan.clock import ManualClock
from titan.store.audit import Actor


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_briefing_ready_push_and_daily_summary_section(tmp_path: Path,
                                                             receiver: Receiver) -> None:
    clock = ManualClock(datetime(2025, 3, 12, 6, 0, tzinfo=UTC))
    titan = make_titan(tmp_path / "data", clock=clock, notify_urls=receiver.url)
    titan.notifier.coalesce_s = 0.01
    app = create_app(titan)
    async with TestClient(TestServer(app)):
        assert titan.notifier.daily is not None
        before = (await titan.notifier.daily.build()).body
        assert "AI Quant" not in before  # it has not run: nothing to say
        run = await app[QUANT].start_run(Actor("titan", "system"), "nightly")
        assert run["status"] == "done"  # no trades: no search
        msg = await receiver.wait_for("AI Quant briefing ready")
        assert f"AI Quant run {run['id']}: done" in msg["message"]
        assert "too few trades" in msg["message"]
        body = (await titan.notifier.daily.build()).body
        assert "AI Quant: 0 proposal(s) pending" in body and "too few trades" in body
        nxt = titan.scheduler.jobs()["quant-nightly"]
        assert (nxt.hour, nxt.minute) == (1, 0)  # after the 00:30 backup
