"""The daily summary: the last 24 hours' PnL, trades, win rate and alerts, as one message.

Sent at TITAN_NOTIFY_DAILY_AT (UTC) by the scheduler. `sections` is the hook for more
paragraphs (the AI Quant morning briefing, once it exists, adds one here): each is an
async function returning a few lines, or None to say nothing today.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal

from loguru import logger

from titan.clock import Clock
from titan.domain.reasons import Severity
from titan.logs import redact
from titan.notify.messages import Notice
from titan.ops.alerts import alert_counts
from titan.store.db import Database

Section = Callable[[], Awaitable[str | None]]


async def summary_lines(db: Database, since: datetime) -> list[str]:
    rows = await db.fetch_all("SELECT net_pnl FROM trades WHERE closed_at >= ?",
                              [since.isoformat()])
    pnls = [Decimal(r["net_pnl"]) for r in rows]
    wins = sum(1 for p in pnls if p > 0)
    total = sum(pnls, Decimal(0))
    rate = f"{wins / len(pnls):.0%}" if pnls else "n/a (no trades)"
    alerts = await alert_counts(db, since)
    return [
        f"PnL (net, closed trades): {total:+.2f} USDT",
        f"Trades: {len(pnls)} ({wins} won, {len(pnls) - wins} lost or flat)",
        f"Win rate: {rate}",
        "Alerts: " + ", ".join(f"{k} {v}" for k, v in alerts.items()),
    ]


class DailySummary:
    def __init__(self, db: Database, clock: Clock, send: Callable[[Notice], None]) -> None:
        self._db, self._clock, self._send = db, clock, send
        self.sections: list[Section] = []  # hook: the AI Quant briefing adds itself here

    async def build(self) -> Notice:
        now = self._clock.now()
        lines = await summary_lines(self._db, now - timedelta(hours=24))
        for section in self.sections:
            try:
                text = await section()
            except Exception:
                logger.opt(exception=True).warning("NOTIFY_SECTION_FAILED section={}", section)
                continue
            if text:
                lines += ["", text]
        return Notice(Severity.LOW, f"[Titan] Daily summary {now:%Y-%m-%d}",
                      redact("Last 24 hours:\n" + "\n".join(lines)), now, alone=True)

    async def run(self) -> None:
        """The scheduled job: build and queue the message (delivery stays in the notifier)."""
        self._send(await self.build())
