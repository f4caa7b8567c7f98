"""What AI Quant reads from a real journal database: the regime in effect for a trade's
symbol at entry (REGIME_CHANGED rows, inserted directly), its signal kind, yesterday."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from titan.quant.journal import load_trades, yesterday
from titan.store.db import Database


async def test_regime_and_signal_kind_at_entry(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        events = [
            ("2025-03-11T08:00:00Z", "REGIME_CHANGED", {"symbol": "BTCUSDT", "regime": "NORMAL"}),
            ("2025-03-11T09:30:00Z", "REGIME_CHANGED", {"symbol": "BTCUSDT", "regime": "CRASH"}),
            ("2025-03-11T09:00:00Z", "REGIME_CHANGED", {"symbol": "ETHUSDT", "regime": "HEAVY"}),
            ("2025-03-11T09:55:00Z", "TRAP_SPRUNG", {"symbol": "BTCUSDT", "kind": "bollinger"}),
            ("2025-03-11T09:40:00Z", "HUNTER_ENTRY", {"symbol": "ETHUSDT", "direction": "LONG"}),
        ]
        for ts, name, data in events:
            await db.execute_write("INSERT INTO events(ts, name, message, data) VALUES (?,?,?,?)",
                                   (ts, name, name, json.dumps(data)))
        trades = [("BTCUSDT", "2025-03-11T09:00:00Z", "1"),   # NORMAL (CRASH comes later)
                  ("BTCUSDT", "2025-03-11T10:00:00Z", "-1"),  # CRASH; trap 5 min before
                  ("ETHUSDT", "2025-03-11T10:05:00Z", "2"),   # HEAVY; entry 25 min after
                  ("SOLUSDT", "2025-03-11T10:00:00Z", "0")]   # no regime event: UNKNOWN
        for sym, opened, pnl in trades:
            await db.execute_write(
                "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
                " net_pnl, strategy, close_reason, opened_at, closed_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (sym, "Buy", "1", "1", "1", pnl, "0", pnl, "scavenger", "x", opened, opened))
        got = [(t.symbol, t.regime, t.signal_kind) for t in await load_trades(db)]
        assert got == [("BTCUSDT", "NORMAL", "unknown"), ("BTCUSDT", "CRASH", "bollinger"),
                       ("ETHUSDT", "HEAVY", "unknown"), ("SOLUSDT", "UNKNOWN", "unknown")]
        y = await yesterday(db, datetime(2025, 3, 12, 7, 0, tzinfo=UTC))
        assert y == {"day": "2025-03-11", "trades": 4, "wins": 2, "win_rate": 0.5,
                     "net_pnl": "2"}
        assert (await yesterday(db, datetime(2025, 3, 14, tzinfo=UTC)))["win_rate"] is None
    finally:
        await db.close()
