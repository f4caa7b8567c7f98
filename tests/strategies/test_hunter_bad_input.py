"""Hunter's bad input on the replay engine (the real `StrategyContext` of a backtest):
missing or short candle history and a symbol delisted mid-scan are named skips — the scan
goes on with the others, nothing crashes, nothing is sent for them.

"Delisted" is the venue's answer for a symbol it no longer trades: its candles cannot be
read (Bybit: 10001 "Not supported symbols") although the listing just named it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from tests.backtest import hunter_scenario as sc
from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import ListSource, ReplayEvent
from titan.risk.config import RiskConfig
from titan.sim.config import SimConfig
from titan.strategies.config import default_setting
from titan.strategies.hunter.wiring import HUNTER
from titan.venues.base import Kline, Trade, VenueError

SOL, XRP, LTC = "SOLUSDT", "XRPUSDT", "LTCUSDT"
END = sc.START + 6 * 60_000  # two scans (at the start and 5 minutes later)


class Delisting:
    """The hand-built market; once `delisted` names a symbol, its candles (all but the
    1-minute bars the listing's turnover is read from) fail as the venue's do."""

    def __init__(self, inner: ListSource) -> None:
        self.inner = inner
        self.delisted: set[str] = set()

    def events(self) -> Iterator[ReplayEvent]:
        return self.inner.events()

    def klines(self, symbol: str, interval_min: int) -> Sequence[Kline]:
        if symbol in self.delisted and interval_min != 1:
            raise VenueError(f"10001: Not supported symbols ({symbol})")
        return self.inner.klines(symbol, interval_min)

    def venue_priced(self) -> frozenset[str]:
        return self.inner.venue_priced()

    def estimate(self) -> int:
        return self.inner.estimate()


def _source() -> Delisting:
    bars = sc.candles() | sc.uptrend(SOL, 150.0)
    short = sc.uptrend(XRP, 0.6)
    bars[(XRP, 1440)] = short[(XRP, 1440)][-10:]  # ten days: too short a history
    bars |= {k: v for k, v in short.items() if k[1] != 1440}
    # LTCUSDT: no candles at all
    trades = [Trade(s, px, 1.0, ts, False, ts // 1000)
              for ts in range(sc.START, END, 1_000)
              for s, px in ((sc.SYMBOL, sc.P), (SOL, 150.0), (XRP, 0.6), (LTC, 80.0))]
    return Delisting(ListSource(venue_trades=trades, klines_by_interval=bars))


async def test_short_missing_history_and_a_delisting_mid_scan_are_named_skips() -> None:
    source = _source()
    symbols = (sc.BTC, sc.SYMBOL, SOL, XRP, LTC)
    spec = BacktestSpec("hunter", symbols, sc.START, END, RiskConfig(), default_setting(HUNTER),
                        sim=SimConfig(starting_balance=Decimal(10_000)))
    bt = Backtest(spec, source, HUNTER)
    events: list[Any] = []

    def seen(event: Any) -> None:
        events.append(event)
        if event.name == "HUNTER_SCAN" and not source.delisted:
            source.delisted.add(SOL)  # gone between the scan and its POI round

    bt.bus.subscribe(seen)
    result = await bt.run()  # no crash
    scans = [e for e in events if e.name == "HUNTER_SCAN"]
    assert len(scans) == 2
    first, second = scans
    ranked = [e["symbol"] for e in first.ranked]
    assert sc.SYMBOL in ranked and SOL in ranked
    assert first.skipped[XRP] == "SHORT_HISTORY: 10 closed 1440 m bars (need 30)"
    assert first.skipped[LTC] == "SHORT_HISTORY: 0 closed 1440 m bars (need 30)"
    # Delisted after the scan: the POI round names it; the next scan skips it, ETH stays.
    poi_skip = [e for e in events if e.name == "HUNTER_SKIP" and e.symbol == SOL]
    assert [e.condition for e in poi_skip] == ["SYMBOL_UNAVAILABLE"]
    assert "Not supported symbols" in poi_skip[0].message
    assert second.skipped[SOL].startswith("SYMBOL_UNAVAILABLE: 10001")
    assert SOL not in [e["symbol"] for e in second.ranked]
    assert sc.SYMBOL in [e["symbol"] for e in second.ranked]
    assert result.orders_sent == 0  # nothing for any of them (no order flow either)
