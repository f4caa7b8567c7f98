"""What AI Quant reads from the journal: closed trades, each with the regime in effect for
its symbol at entry and the signal (trap) kind that opened it; yesterday's figures.

* Regime: the newest `REGIME_CHANGED` event for the symbol (data["symbol"], data["regime"])
  at or before the trade's entry; none → "UNKNOWN".
* Signal kind: the trades table keeps no signal, so it is the kind of the newest
  `TRAP_SPRUNG` (data["kind"]) or `HUNTER_ENTRY` (order_block_<direction>) event for the
  symbol in the `SIGNAL_WINDOW` before the entry; none → "unknown".
"""

from __future__ import annotations

import bisect
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from titan.clock import iso_utc, utc_day_start
from titan.quant.insights import UNKNOWN, JournalTrade
from titan.store.db import Database

SIGNAL_WINDOW = timedelta(minutes=10)
MAX_TRADES = 5_000  # the newest trades the insights look at


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _dec(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return Decimal(0)


class _Timeline:
    """Per symbol, (time, value) in time order: the value in effect at a time."""

    def __init__(self) -> None:
        self._ts: dict[str, list[datetime]] = {}
        self._vals: dict[str, list[str]] = {}

    def add(self, symbol: str, ts: datetime, value: str) -> None:
        self._ts.setdefault(symbol, []).append(ts)
        self._vals.setdefault(symbol, []).append(value)

    def at(self, symbol: str, ts: datetime, within: timedelta | None = None) -> str | None:
        times = self._ts.get(symbol)
        if not times:
            return None
        i = bisect.bisect_right(times, ts) - 1
        if i < 0 or (within is not None and ts - times[i] > within):
            return None
        return self._vals[symbol][i]


async def _timeline(db: Database, names: tuple[str, ...]) -> list[dict[str, Any]]:
    marks = ",".join("?" for _ in names)
    return await db.fetch_all(
        f"SELECT ts, name, data FROM events WHERE name IN ({marks}) ORDER BY ts, id", names)


def _data(row: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(row["data"] or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def load_trades(db: Database) -> list[JournalTrade]:
    """The newest closed trades (at most `MAX_TRADES`), oldest first, with regime and kind."""
    rows = await db.fetch_all(
        "SELECT id, symbol, net_pnl, strategy, opened_at, closed_at FROM trades"
        " ORDER BY id DESC LIMIT ?", (MAX_TRADES,))
    regimes, kinds = _Timeline(), _Timeline()
    for ev in await _timeline(db, ("REGIME_CHANGED",)):
        data = _data(ev)
        if data.get("symbol") and data.get("regime"):
            regimes.add(str(data["symbol"]), parse_ts(ev["ts"]), str(data["regime"]))
    for ev in await _timeline(db, ("TRAP_SPRUNG", "HUNTER_ENTRY")):
        data = _data(ev)
        if not data.get("symbol"):
            continue
        if ev["name"] == "TRAP_SPRUNG" and data.get("kind"):
            kinds.add(str(data["symbol"]), parse_ts(ev["ts"]), str(data["kind"]))
        elif ev["name"] == "HUNTER_ENTRY":
            kinds.add(str(data["symbol"]), parse_ts(ev["ts"]),
                      f"order_block_{str(data.get('direction', '')).lower()}")
    out: list[JournalTrade] = []
    for r in reversed(rows):
        opened = parse_ts(r["opened_at"])
        symbol = str(r["symbol"])
        out.append(JournalTrade(
            id=int(r["id"]), symbol=symbol, net_pnl=_dec(r["net_pnl"]), opened_at=opened,
            closed_at=parse_ts(r["closed_at"]), strategy=str(r["strategy"] or ""),
            regime=regimes.at(symbol, opened) or UNKNOWN,
            signal_kind=kinds.at(symbol, opened, SIGNAL_WINDOW) or "unknown"))
    return out


async def yesterday(db: Database, now: datetime) -> dict[str, Any]:
    """Yesterday's (UTC) closed trades: count, wins, win rate and net PnL."""
    end = utc_day_start(now)
    start = end - timedelta(days=1)
    rows = await db.fetch_all(
        "SELECT net_pnl FROM trades WHERE closed_at >= ? AND closed_at < ?",
        (iso_utc(start), iso_utc(end)))
    pnls = [_dec(r["net_pnl"]) for r in rows]
    wins = sum(1 for p in pnls if p > 0)
    return {"day": start.date().isoformat(), "trades": len(pnls), "wins": wins,
            "win_rate": round(wins / len(pnls), 4) if pnls else None,
            "net_pnl": str(sum(pnls, Decimal(0)))}
