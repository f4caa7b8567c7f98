"""What Hunter keeps across a restart, on a real database (`hunter_positions`): the 2R
partial recorded as taken is never taken again, and the loss streak (three losses cut
the size by 30 % until a win) is rebuilt from the closed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.backtest import hunter_scenario as sc
from titan.backtest.context import ReplayContext
from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import ListSource
from titan.risk.config import RiskConfig
from titan.sim.config import SimConfig
from titan.store.db import Database
from titan.strategies.config import default_setting
from titan.strategies.hunter.manage import Managed, step
from titan.strategies.hunter.plan import plan_entry, size
from titan.strategies.hunter.poi import Zone
from titan.strategies.hunter.store import HunterStore
from titan.strategies.hunter.strategy import Hunter
from titan.strategies.hunter.structure import Direction
from titan.strategies.hunter.wiring import HUNTER

T0 = datetime(2025, 3, 11, 8, tzinfo=UTC)
H = 3_600_000


def _hunter(store: HunterStore) -> Hunter:
    """A Hunter on a replay's context (the real one of a backtest), with `store`."""
    spec = BacktestSpec("hunter", (sc.SYMBOL,), sc.START, sc.END, RiskConfig(),
                        default_setting(HUNTER), sim=SimConfig(starting_balance=Decimal(10_000)))
    return Hunter(ReplayContext(Backtest(spec, ListSource(), HUNTER), "hunter"), store=store)


def _managed(plan_id: str, symbol: str = sc.SYMBOL) -> Managed:
    return Managed(plan_id, symbol, Direction.LONG, entry=100.0, initial_stop=98.0, stop=98.0,
                   target=106.0, qty=10.0, opened_ms=0)


async def test_the_2r_partial_recorded_is_not_taken_again_after_a_restart(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "titan.db")
    await db.open()
    m = _managed("p1")
    assert [a.kind for a in step(m, 104.0, None, H)] == ["BREAKEVEN", "PARTIAL"]
    await HunterStore(db).save(m, T0)  # recorded before the reduce order is sent
    await db.close()

    again = Database(tmp_path / "titan.db")  # the restart
    await again.open()
    try:
        hunter = _hunter(HunterStore(again))
        await hunter.start()
        restored = hunter.trader.managed[sc.SYMBOL]
        assert (restored.partial_done, restored.partial_qty, restored.stop) == (True, 5.0, 100.0)
        assert [a.kind for a in step(restored, 104.5, None, 2 * H)] == []
        assert all(a.kind != "PARTIAL" for a in step(restored, 105.5, 0.5, 3 * H))
        assert hunter.status()["positions"][0]["done"]["partial"] is True
    finally:
        await again.close()


async def test_the_loss_streak_survives_a_restart_and_cuts_the_size(tmp_path: Path) -> None:
    db = Database(tmp_path / "titan.db")
    await db.open()
    store = HunterStore(db)
    pnls = [12.0, -3.0, -4.0, -5.0]  # oldest first: a win, then three losses
    for i, pnl in enumerate(pnls):
        m = _managed(f"p{i}", f"SYM{i}")
        m.closed = True
        await store.save(m, T0 + timedelta(minutes=i), pnl)
    await db.close()

    again = Database(tmp_path / "titan.db")
    await again.open()
    try:
        hunter = _hunter(HunterStore(again))
        await hunter.start()
        assert hunter.trader.streak.losses == 3 and hunter.trader.managed == {}
        assert hunter.status()["lossStreak"] == 3
        plan = plan_entry(sc.SYMBOL, Direction.LONG, Zone("OB", Direction.LONG, 98.0, 100.0,
                                                          0, 80))
        args: dict[str, Any] = {"equity": 10_000.0, "open_positions": 0, "open_risk": 0.0,
                "max_correlation": None, "weekly_drawdown_pct": 0.0}
        cut = size(plan, loss_streak=hunter.trader.streak.losses, **args).qty
        full = size(plan, loss_streak=0, **args).qty
        assert round(cut / full, 9) == 0.7
        # A win, recorded: the next restart starts with no streak.
        w = _managed("p9", "SYM9")
        w.closed = True
        await HunterStore(again).save(w, T0 + timedelta(minutes=9), 1.0)
        assert (await HunterStore(again).load())[1] == 0
    finally:
        await again.close()
