"""The trading day (00:00 UTC to 00:00 UTC): start-of-day equity and today's counters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock, utc_day_start
from titan.risk.common import SaveHook, dec_or_none, persist


class DayTracker:
    """Start-of-day equity snapshot and today's realised PnL, reset when the UTC day rolls.

    The roll is detected from the clock on every call, so nothing has to fire exactly
    at midnight; the snapshot is the first equity seen in the new day (the app's
    scheduler should feed one at 00:00 UTC). After a restart across midnight it is the
    first equity seen after the restart.
    """

    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        state: dict[str, Any] | None = None,
        on_change: SaveHook | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._on_change = on_change
        self.day: date | None = None
        self._day_end: datetime | None = None
        self.start_equity: Decimal | None = None
        self.realised_pnl = Decimal(0)
        self.trades = 0
        self.wins = 0
        self.losses = 0
        if state is not None:
            self.load_state(state)

    def _today(self, now: datetime | None = None) -> date:
        return utc_day_start(now or self._clock.now()).date()

    def rolled(self, now: datetime | None = None) -> bool:
        """True when the clock is in a later UTC day than the tracked one (cheap: hot path)."""
        end = self._day_end
        return end is None or (now or self._clock.now()) >= end

    def _set_day(self, day: date | None) -> None:
        self.day = day
        self._day_end = (
            None if day is None
            else datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        )

    def _roll(self, equity: Decimal | None) -> None:
        self._set_day(self._today())
        self.start_equity = equity
        self.realised_pnl = Decimal(0)
        self.trades = self.wins = self.losses = 0

    async def on_equity(self, equity: Decimal) -> bool:
        """Feed the current equity (incl. unrealised PnL); returns True when a new day began."""
        changed = False
        rolled = self.rolled()
        if rolled:
            self._roll(equity)
            changed = True
        elif self.start_equity is None:
            self.start_equity = equity
            changed = True
        if changed:
            await self._save()
        return rolled

    async def on_trade_closed(self, net_pnl: Decimal) -> None:
        if self.rolled():
            self._roll(None)
        self.realised_pnl += net_pnl
        self.trades += 1
        if net_pnl < 0:
            self.losses += 1
        else:
            self.wins += 1
        await self._save()

    def start_equity_today(self, now: datetime | None = None) -> Decimal | None:
        return None if self.rolled(now) else self.start_equity

    def drawdown(self, current_equity: Decimal) -> Decimal:
        """(start-of-day equity − current equity) / start-of-day equity, never negative."""
        sod = self.start_equity
        if sod is None or sod <= 0 or self.rolled():
            return Decimal(0)
        return max(Decimal(0), (sod - current_equity) / sod)

    def realised_today(self, now: datetime | None = None) -> Decimal:
        return Decimal(0) if self.rolled(now) else self.realised_pnl

    def to_state(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "startEquity": str(self.start_equity) if self.start_equity is not None else None,
            "realisedPnl": str(self.realised_pnl),
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        day = state.get("day")
        self._set_day(date.fromisoformat(day) if isinstance(day, str) else None)
        self.start_equity = dec_or_none(state.get("startEquity"))
        self.realised_pnl = Decimal(str(state.get("realisedPnl", "0")))
        self.trades = int(state.get("trades", 0))
        self.wins = int(state.get("wins", 0))
        self.losses = int(state.get("losses", 0))

    async def _save(self) -> None:
        await persist(self._on_change, self.to_state(), self._bus, self._clock, "day")
