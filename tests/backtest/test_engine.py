"""The replay engine on hand-built data in a real market-data store, with the perpetual's
own prices (Bybit trades):
the stop-loss closes the trade at a loss, funding is settled on the open position, and
the loss reaches the risk engine (the breaker's consecutive-loss count, the day's
figures); a strategy outside its phases does not trade; no look-ahead in klines."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa

from tests.backtest import scenario as sc
from tests.backtest.store_data import write_klines, write_trades
from titan.backtest.context import ReplayContext
from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import StoreSource
from titan.marketdata.store import MarketDataStore
from titan.risk.config import RiskConfig
from titan.strategies.config import StrategySetting, default_setting
from titan.strategies.registry import builtin_specs
from titan.venues.base import Trade

SPEC = builtin_specs()["scavenger"]
Q = Decimal("0.00000001")
FEE = Decimal("0.00055")


def bybit_trades() -> list[Trade]:
    out = [Trade(sc.SYMBOL, 150.5, 1.0, ts, False, i)
           for i, ts in enumerate(range(sc.START, sc.SPRING, 1_000))]
    out += [Trade(sc.SYMBOL, 152.0, 1.0, sc.SPRING + k * 100, False, 10_000 + k)
            for k in range(600)]  # holds at the level for a minute
    # A taker sell at 150.70 crosses the stop (152.30 × 0.99 = 150.777 → 150.78).
    out.append(Trade(sc.SYMBOL, 150.70, 1.0, sc.SPRING + 60_000, True, 20_000))
    out += [Trade(sc.SYMBOL, 150.7, 1.0, ts, True, 30_000 + ts % 100_000)
            for ts in range(sc.SPRING + 61_000, sc.END, 5_000)]
    return out


def source(root: Path) -> StoreSource:
    """The scenario in a real market-data store: Binance trades, Bybit trades, a funding
    settlement, the 1-minute klines."""
    write_trades(root, "binance", sc.SYMBOL, sc.binance_trades(after_spring=False))
    write_trades(root, "bybit", sc.SYMBOL, bybit_trades())
    MarketDataStore(root).append("bybit", sc.SYMBOL, "funding", pa.table(
        {"ts_ms": [sc.SPRING + 30_000], "rate": [0.0001]}))
    write_klines(root, "binance", sc.SYMBOL, 1, sc.minute_klines())
    return StoreSource(MarketDataStore(root), (sc.SYMBOL,), sc.START, sc.END)


def spec(setting: StrategySetting | None = None, risk: RiskConfig | None = None) -> BacktestSpec:
    return BacktestSpec("scavenger", (sc.SYMBOL,), sc.START, sc.END, risk or RiskConfig(),
                        setting or default_setting(SPEC))


async def test_stop_loss_funding_and_the_loss_reaches_the_risk_engine(tmp_path: Path) -> None:
    # One loss in a row trips the breaker: the replay's breaker is the live one.
    bt = Backtest(spec(risk=RiskConfig(consecutiveLossLimit=1)), source(tmp_path), SPEC)
    result = await bt.run()
    assert result.venue_priced == [sc.SYMBOL]
    (rt,) = result.round_trips
    assert rt.exit_reason == "StopLoss" and rt.side == "long" and rt.qty == Decimal("26.2")
    # Springs at SPRING + 49; Bybit's last print (SPRING + 0) is older, so the entry waits
    # the Scavenger's 20 ms for a newer one (none comes: priced from the book as it is),
    # then 200 ms to the matching engine.
    assert rt.opened_ms == sc.SPRING + 49 + 20 + 200
    entry, exit_ = rt.fills
    assert (entry["price"], exit_["price"]) == ("152.000", "150.700")
    qty = Decimal("26.2")
    fees = ((Decimal("152.000") * qty * FEE).quantize(Q, ROUND_HALF_UP)
            + (Decimal("150.700") * qty * FEE).quantize(Q, ROUND_HALF_UP))
    funding = (qty * Decimal("152.000") * Decimal("0.0001")).quantize(Q, ROUND_HALF_UP)
    gross = (Decimal("150.700") - Decimal("152.000")) * qty
    assert (rt.gross, rt.fees, rt.funding) == (gross, fees, funding)
    assert rt.net == Decimal("-38.82014700") == gross - fees - funding
    assert result.end_equity == Decimal(2000) + rt.net
    # The loss reached the same risk engine live Titan uses.
    assert bt.risk.day.losses == 1 and bt.risk.day.trades == 1
    breaker = bt.risk.breaker.status()
    assert breaker["tripped"] is True and breaker["rule"] == "CONSECUTIVE_LOSSES", breaker
    assert result.published.get("CIRCUIT_BREAKER") == 1, result.published


async def test_a_strategy_outside_its_phases_does_not_trade(tmp_path: Path) -> None:
    phase2 = StrategySetting(enabled=True, phases=(2,), params=default_setting(SPEC).params)
    bt = Backtest(spec(phase2), source(tmp_path), SPEC)
    result = await bt.run()
    assert result.round_trips == [] and result.orders_sent == 0
    assert "phase" in bt.pauses_of("scavenger")


async def test_klines_only_once_closed(tmp_path: Path) -> None:
    bt = Backtest(spec(), source(tmp_path), SPEC)
    ctx = ReplayContext(bt, "scavenger")
    bt.clock.ms = sc.START + 30_000  # half-way through the 09:58 bar
    bars = await ctx.klines(sc.SYMBOL, 1, 5)
    assert bars[-1].start_ms == sc.START - 60_000  # 09:57, closed at 09:58:00
    bt.clock.ms = sc.START + 60_000  # 09:59:00: the 09:58 bar has just closed
    assert (await ctx.klines(sc.SYMBOL, 1, 5))[-1].start_ms == sc.START
    day = await ctx.klines(sc.SYMBOL, 1440, 3)
    assert [b.start_ms for b in day] == [sc.DAY0]  # today's bar is not closed
    assert day[0].high == sc.LEVEL and day[0].low == 148.0
