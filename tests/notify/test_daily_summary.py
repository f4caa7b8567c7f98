"""TITAN_NOTIFY_DAILY_AT schedules the daily summary; it reports the last 24 h's PnL, trades,
win rate and alerts, plus any section added through the hook (the AI Quant briefing)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from tests.helpers import make_titan
from tests.notify.receiver import Receiver
from titan.app import create_app
from titan.clock import ManualClock
from titan.domain.reasons import Severity
from titan.events import Alert


async def test_daily_summary_is_scheduled_and_says_the_day(tmp_path: Path,
                                                            receiver: Receiver) -> None:
    clock = ManualClock()
    titan = make_titan(tmp_path / "data", clock=clock, notify_urls=receiver.url,
                       notify_daily_at="8:05")
    titan.notifier.coalesce_s = 0.01
    async with TestClient(TestServer(create_app(titan))):
        nxt = titan.scheduler.jobs()["notify-daily-summary"]
        assert (nxt.hour, nxt.minute) == (8, 5) and nxt.utcoffset() == timedelta(0)
        now = clock.now()
        trades = [("12.50", now - timedelta(hours=2)), ("-4.25", now - timedelta(hours=5)),
                  ("3.00", now - timedelta(hours=20)),
                  ("99.00", now - timedelta(hours=30))]  # older than a day: not counted
        for pnl, closed in trades:
            await titan.db.execute_write(
                "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
                " net_pnl, strategy, close_reason, opened_at, closed_at)"
                " VALUES ('BTCUSDT','Buy','0.01','100','101','1','0',?, 'scavenger','TP',?,?)",
                (pnl, closed.isoformat(), closed.isoformat()))
        titan.bus.publish(Alert(ts=now, severity=Severity.CRITICAL, message="test alert"))
        await titan.journal.flush()

        async def briefing() -> str:
            return "Briefing: BTC range-bound overnight."

        assert titan.notifier.daily is not None
        titan.notifier.daily.sections.append(briefing)
        await titan.notifier.daily.run()
        msg = await receiver.wait_for("Daily summary")
    body = msg["message"]
    assert "PnL (net, closed trades): +11.25 USDT" in body
    assert "Trades: 3 (2 won, 1 lost or flat)" in body
    assert "Win rate: 67%" in body
    assert "CRITICAL 1" in body  # the alert journaled above
    assert "Briefing: BTC range-bound overnight." in body
