"""Replay fidelity (SPEC §15, docs/backtests.md "Replay fidelity"): a paper Titan trades on
the in-process simulator with the recorder on; the recording is then backtested over the
same range with the same config and latency, and the two sessions must agree.

The live session: Titan armed, the Scavenger's nearest trap approached and sprung by a
burst on the Binance feed, the entry filled on the simulator's Bybit, a funding
settlement while the position is open, then the price driven through the stop. What the
recorder wrote (Binance trades, Bybit tickers, closed klines, the funding settlement) plus
the klines the Scavenger armed from (the history a recorder running the day before
would hold, read from the same REST) is the backtest's only input.

Compared (tolerances and why: docs/backtests.md "Replay fidelity"): the same round trip —
the same client order id (the trap id and the springing trade's time: the same trap
sprung by the same trade), symbol, side, quantity and exit reason; entry and exit prices
within 0.02 %; open and close times within 1 s; fees, funding, gross and net PnL within
0.01 % of the notional traded. The same replay with a 2.5 s latency diverges, and the
comparison says so.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.helpers import make_titan
from tests.integration.test_scavenger_runner import KEY, SECRET, Rig, wait_for
from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import DAY_MS, StoreSource
from titan.backtest.trades import RoundTrip, RoundTrips
from titan.events import Event
from titan.marketdata.store import MarketDataStore
from titan.sim import SimConfig, Simulator
from titan.sim.accounts import SimExecution
from titan.strategies.registry import builtin_specs
from titan.strategies.scavenger.strategy import KLINE_LIMIT

SCAVENGER = builtin_specs()["scavenger"]
LATENCY_MS = 5
OPTIONS = {"rearm_every_s": 3600.0}  # the live session's Scavenger options, replayed too
PRICE_TOL = Decimal("0.0002")  # entry/exit price: 0.02 % (book depth, see the docs)
TIME_TOL_MS = 1_000  # open/close time (latency, the tickers' 100 ms throttle)
MONEY_TOL = Decimal("0.0001")  # fees, funding, PnL: 0.01 % of the notional traded


async def _live_session(data: Path) -> dict[str, Any]:
    """Run the paper session; returns its round trip, events and what the backtest needs."""
    sim = Simulator(SimConfig(seed=11, accounts={KEY: SECRET}, tick_hz=0))
    await sim.start()
    trips = RoundTrips()
    acct = sim.engine.account(KEY)

    def on_engine(key: str, kind: str, obj: object) -> None:
        if kind == "execution" and key == KEY and isinstance(obj, SimExecution):
            pos = acct.positions.get(obj.symbol)
            trips.on_execution(obj, pos.size if pos is not None else Decimal(0))

    sim.engine.add_listener(on_engine)
    titan = make_titan(data, venue="bybit", bybit_api_key=KEY, bybit_api_secret=SECRET,
                       bybit_url=sim.base_url, binance_url=sim.base_url)
    titan.scavenger_options = dict(OPTIONS)
    events: list[Event] = []
    titan.bus.subscribe(events.append)
    await titan.start()
    try:
        rig = Rig(titan, sim, events)
        await wait_for(lambda: rig.runner.state.armed and rig.runner.running, what="armed")
        armed_at = int(rig.runner.last_arming["atMs"])
        risk, setting = titan.config.active, titan.config.strategies["scavenger"]
        symbols = sorted(rig.runner.last_arming["symbols"])
        # The history the Scavenger armed from, read from the same REST as it did.
        assert titan.venue is not None
        history = {s: (await titan.venue.klines(s, 1, KLINE_LIMIT),
                       await titan.venue.klines(s, 1440, 3)) for s in symbols}
        await wait_for(lambda: titan.risk.equity is not None, what="equity")
        await titan.risk.arm("test", "test")
        trap = rig.nearest_trap()
        await rig.approach(trap, gap=-0.001)  # marketable at the touch (see the runner test)
        await rig.burst(trap, count=50)
        await wait_for(lambda: rig.named("ORDER_FILLED"), what="the entry filled")
        await wait_for(lambda: trap.symbol in trips.open, what="the position opened")
        await asyncio.sleep(0.3)
        sim.settle_funding()  # the 8-hour settlement, driven now: paid on the open position
        pos = acct.positions[trap.symbol]
        sign = 1 if pos.size > 0 else -1
        assert pos.stop_loss is not None
        await asyncio.sleep(0.3)
        sim.set_price(trap.symbol, pos.stop_loss * (1 - sign * Decimal("0.001")))
        await wait_for(lambda: trips.closed, what="the stop closed the position")
        await asyncio.sleep(0.5)  # the closing ticker reaches the recorder
        end = titan.clock.time_ms() + 1
    finally:
        await titan.stop()  # the recorder writes what it holds
        await sim.stop()
    return {"trap": trap, "trips": list(trips.closed), "events": events, "armed_at": armed_at,
            "end": end, "symbols": symbols, "history": history, "risk": risk,
            "setting": setting}


def _store_history(store: MarketDataStore, history: dict[str, Any]) -> None:
    for sym, (minute, daily) in history.items():
        rows = [{"interval_min": i, "start_ms": k.start_ms, "open": k.open, "high": k.high,
                 "low": k.low, "close": k.close, "volume": k.volume}
                for i, bars in ((1, minute), (1440, daily)) for k in bars]
        store.append("bybit", sym, "klines", pa.Table.from_pylist(rows))


def _close(a: Decimal, b: Decimal, tol: Decimal, scale: Decimal) -> bool:
    return abs(a - b) <= tol * scale


def _assert_same(live: RoundTrip, replay: RoundTrip) -> None:
    assert (replay.client_order_id, replay.symbol, replay.side, replay.qty,
            replay.exit_reason) == (live.client_order_id, live.symbol, live.side, live.qty,
                                    live.exit_reason), (replay.as_dict(), live.as_dict())
    for what in ("entry_price", "exit_price"):
        lv, rv = getattr(live, what), getattr(replay, what)
        assert _close(lv, rv, PRICE_TOL, lv), (what, lv, rv)
    assert abs(replay.opened_ms - live.opened_ms) <= TIME_TOL_MS
    assert live.closed_ms is not None and replay.closed_ms is not None
    assert abs(replay.closed_ms - live.closed_ms) <= TIME_TOL_MS
    notional = live.entry_value + live.exit_value
    for what in ("fees", "funding", "gross", "net"):
        lv, rv = getattr(live, what), getattr(replay, what)
        assert _close(lv, rv, MONEY_TOL, notional), (what, lv, rv)


async def test_a_recorded_paper_session_replays_to_the_same_trades(tmp_path: Path) -> None:
    data = tmp_path / "data"
    live = await _live_session(data)
    (live_rt,) = live["trips"]
    assert live_rt.exit_reason == "StopLoss" and live_rt.funding != 0, live_rt.as_dict()
    store = MarketDataStore(data / "marketdata")
    funding = [r for b in store.read("bybit", live_rt.symbol, "funding", live["armed_at"],
                                     live["end"]) for r in b.to_pylist()]
    assert len(funding) == 1, funding  # the settlement, recorded once
    _store_history(store, live["history"])

    async def replay(latency_ms: int) -> Any:
        spec = BacktestSpec("scavenger", tuple(live["symbols"]), live["armed_at"], live["end"],
                            live["risk"], live["setting"], latency_ms=latency_ms,
                            options=OPTIONS)
        source = StoreSource(store, spec.symbols, spec.start_ms, spec.end_ms,
                             history_ms=SCAVENGER.history_days * DAY_MS)
        return await Backtest(spec, source, SCAVENGER).run()

    # The live order reached the venue a few ms after the spring (loopback): replayed so.
    result = await replay(LATENCY_MS)
    (replay_rt,) = result.round_trips
    _assert_same(live_rt, replay_rt)
    sprung = [e for e in live["events"] if e.name == "TRAP_SPRUNG"]
    assert result.published.get("TRAP_SPRUNG") == len(sprung) == 1
    assert result.end_equity - Decimal(2000) == replay_rt.net
    # A replay that diverges is caught: with 2.5 s of latency the entry arrives after the
    # price has gone through the stop (no trade, or another one).
    late = await replay(2_500)
    with pytest.raises((AssertionError, ValueError)):
        (late_rt,) = late.round_trips
        _assert_same(live_rt, late_rt)
