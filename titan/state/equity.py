"""Account equity: from the venue's wallet (stream, and a REST poll as a backstop) to the
risk engine, the status, and the equity curve (snapshots, throttled)."""

from __future__ import annotations

from datetime import datetime

from titan.clock import Clock
from titan.risk import RiskEngine
from titan.store.db import Database
from titan.venues.base import Wallet

SNAPSHOT_EVERY_S = 60.0


class EquityTracker:
    def __init__(self, db: Database, risk: RiskEngine, clock: Clock) -> None:
        self.db = db
        self.risk = risk
        self.clock = clock
        self.wallet: Wallet | None = None
        self.updated_at: datetime | None = None
        self._last_snapshot = -1e18

    async def on_wallet(self, wallet: Wallet) -> None:
        self.wallet = wallet
        self.updated_at = self.clock.now()
        await self.risk.on_equity(wallet.equity, wallet.unrealised_pnl)
        now = self.clock.monotonic()
        if now - self._last_snapshot >= SNAPSHOT_EVERY_S:
            self._last_snapshot = now
            await self.db.execute_write(
                "INSERT INTO equity_snapshots(ts, equity, wallet_balance, unrealised_pnl)"
                " VALUES (?,?,?,?)",
                (self.updated_at.isoformat(), str(wallet.equity), str(wallet.wallet_balance),
                 str(wallet.unrealised_pnl)),
            )

    async def curve(self, limit: int = 500) -> list[dict[str, str]]:
        rows = await self.db.fetch_all(
            "SELECT ts, equity FROM equity_snapshots ORDER BY id DESC LIMIT ?", (limit,))
        return list(reversed(rows))
