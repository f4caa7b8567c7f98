"""Hunter's correlation limit and loss streak through the strategy, on the replay engine: ETHUSDT's long
is filled and open when SOLUSDT's order flow confirms; their 1 h returns decide — above
0.85 SOL is refused (a named skip, nothing sent), between 0.7 and 0.85 its size is halved.
(The rule itself, with the heat and position limits, is in test_hunter_plan.py; this is
its wiring: the open positions' 1 h candles read through the strategy's context.) And a
losing exit is counted in the loss streak the size cut is taken from."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from tests.backtest import hunter_scenario as sc
from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import ListSource
from titan.risk.config import RiskConfig
from titan.sim.config import SimConfig
from titan.strategies.config import default_setting
from titan.strategies.hunter.plan import correlation, returns
from titan.strategies.hunter.wiring import HUNTER
from titan.venues.base import Kline, Trade

SOL, SOL_P = "SOLUSDT", 150.0
END = sc.START + 9 * 60_000
HOUR = 3_600_000


def _hourly(price: float, wobble: float) -> list[Kline]:
    """60 one-hour bars to the start; returns 1 % × sin(1.3 i) + wobble × 1 % × cos(2.9 i)."""
    closes = [price]
    for i in range(59):
        closes.append(closes[-1] * (1 + 0.01 * math.sin(i * 1.3) + wobble * 0.01 * math.cos(i * 2.9)))
    first = sc.START - 60 * HOUR
    return [Kline(first + i * HOUR, c, c, c, c, 1.0) for i, c in enumerate(closes)]


def _source(wobble: float) -> ListSource:
    bars = sc.candles() | sc.uptrend(SOL, SOL_P)
    bars[(sc.SYMBOL, 60)] = _hourly(sc.P, 0.0)
    bars[(SOL, 60)] = _hourly(SOL_P, wobble)
    venue = []
    for ts in range(sc.START, END, 1_000):  # ETH: through the block at the dip, then flat
        px = sc.P if ts < sc.DIP else sc.P * 0.9975 if ts == sc.DIP else sc.P * 0.999
        venue.append(Trade(sc.SYMBOL, px, 1.0, ts, ts == sc.DIP, ts // 1000))
        venue.append(Trade(SOL, SOL_P, 1.0, ts, False, ts // 1000))
    # SOL's absorption four minutes after ETH's: confirmed at the 08:07 POI round
    sol_flow = [Trade(SOL, t.price / sc.P * SOL_P, t.qty * sc.P / SOL_P, t.ts_ms + 240_000,
                      t.buyer_is_maker, t.trade_id + 100) for t in sc.signal_trades()]
    return ListSource(signal_trades=sc.signal_trades() + sol_flow, venue_trades=venue,
                      klines_by_interval=bars)


async def _run(wobble: float) -> list[Any]:
    spec = BacktestSpec("hunter", (sc.BTC, sc.SYMBOL, SOL), sc.START, END, RiskConfig(),
                        default_setting(HUNTER), sim=SimConfig(starting_balance=Decimal(10_000)))
    bt = Backtest(spec, _source(wobble), HUNTER)
    events: list[Any] = []
    bt.bus.subscribe(events.append)
    await bt.run()
    return events


def _corr(wobble: float) -> float:
    c = correlation(returns([k.close for k in _hourly(sc.P, 0.0)][-49:]),
                    returns([k.close for k in _hourly(SOL_P, wobble)][-49:]))
    assert c is not None
    return c


@pytest.mark.parametrize("wobble", [0.0, 0.8])
async def test_an_entry_correlated_with_an_open_position_is_refused_or_halved(
        wobble: float) -> None:
    events = await _run(wobble)
    eth = [e for e in events if e.name == "HUNTER_ENTRY" and e.symbol == sc.SYMBOL]
    assert [e.status for e in eth] == ["NEW", "FILLED"]
    sol = [e for e in events if e.name == "HUNTER_ENTRY" and e.symbol == SOL]
    signals = [e.symbol for e in events if e.name == "HUNTER_SIGNAL"]
    assert signals == [sc.SYMBOL, SOL]
    if wobble == 0.0:
        assert _corr(wobble) > 0.85
        assert sol == []
        [skip] = [e for e in events if e.name == "HUNTER_SKIP" and e.symbol == SOL
                  and e.condition == "LIMITS"]
        assert "1 h correlation 1.00 > 0.85" in skip.message
    else:
        assert 0.7 < _corr(wobble) < 0.85
        # One open position: 2 % / 2 = 1 % of equity at risk, halved: 0.5 % over the 1.5 %
        # stop at the block's top (0.998 × 150 = 149.7), down to SOL's 0.1 step.
        unhalved = 10_000 * 0.01 / (0.015 * SOL_P * 0.998)
        assert [e.status for e in sol][:1] == ["NEW"]
        assert abs(sol[0].qty - unhalved / 2) <= 0.2, (sol[0].qty, unhalved)


async def test_a_losing_exit_counts_in_the_loss_streak() -> None:
    """ETH's long fills at the block, then the perpetual falls through the 1.5 % stop:
    the venue's stop closes it, Hunter books the loss (streak 1) — the count the 30 % cut
    is taken from."""
    stop_px = sc.BLOCK_TOP * 0.985
    venue = [Trade(sc.SYMBOL, sc.P if ts < sc.DIP else sc.P * 0.9975 if ts < sc.DIP + 20_000
                   else stop_px * 0.998, 1.0, ts, ts >= sc.DIP, ts // 1000)
             for ts in range(sc.START, END, 1_000)]
    source = ListSource(signal_trades=sc.signal_trades(), venue_trades=venue,
                        klines_by_interval=sc.candles())
    spec = BacktestSpec("hunter", (sc.BTC, sc.SYMBOL), sc.START, END, RiskConfig(),
                        default_setting(HUNTER), sim=SimConfig(starting_balance=Decimal(10_000)))
    bt = Backtest(spec, source, HUNTER)
    events: list[Any] = []
    bt.bus.subscribe(events.append)
    result = await bt.run()
    [trip] = result.round_trips
    assert trip.exit_reason == "StopLoss" and trip.net < 0
    closed = [e for e in events if e.name == "HUNTER_EXIT" and e.action == "CLOSED"]
    assert len(closed) == 1 and "loss streak 1" in closed[0].detail
    assert result.strategy_status["lossStreak"] == 1
