"""Hunter, the Phase 2 strategy (STRATEGIES.md, Hunter): market structure, order flow,
passive entries — the pure rules of this package put to work through the strategy
interface (`titan.strategies.base`).

* **Scan** (timer `scan`, every 5 min and at start): the universe is the venue's listing,
  the top 100 by 24 h turnover (`ctx.listing()`), intersected with the whitelist
  (`ctx.symbols()`; the whitelist alone when the listing cannot be read). For each symbol
  the closed daily ×100, 4 h ×200 and 15 m ×500 candles → `analyse_symbol`; the top 20 by
  score are the ranked map (`HUNTER_SCAN`). A symbol whose candles cannot be read (delisted
  mid-scan, a venue error) or are too few is a named skip in the scan, never a crash.
* **POIs** (timer `poi`, every 60 s, and after each scan): for the top 5, the POIs of the
  last 100 closed 15 m candles; then each of the five is judged for an entry, the entry
  conditions in the rules' order, the first that fails a `HUNTER_SKIP` naming it
  (published when a symbol's failing condition changes, not every minute).
* **Order flow**: Binance trades of the top 5 feed a `CvdTracker` each.
* **Manage** (timer `manage`, every 5 s): working entries (fill, cancel rules, post-only
  retry) and open positions (`trading.Trader`).

Hunter reads no wall clock and starts no task of its own (`ctx.clock`, `ctx.spawn`,
`ctx.call_later`, declared timers): a replay drives it the same way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from loguru import logger

from titan.events import Event
from titan.strategies.base import Strategy, StrategyContext, Timer
from titan.strategies.hunter.events import HunterScan, HunterSignal, HunterSkip
from titan.strategies.hunter.orderflow import SAMPLE_MS, CvdTracker
from titan.strategies.hunter.params import HunterParams
from titan.strategies.hunter.plan import plan_entry
from titan.strategies.hunter.poi import nearest_zone
from titan.strategies.hunter.scan import (
    DAILY_BARS,
    H4_BARS,
    M15_BARS,
    POI_BARS,
    PoiSet,
    SymbolView,
    analyse_symbol,
    closed,
    pois_of,
    rank,
    universe_of,
)
from titan.strategies.hunter.score import (
    UNKNOWN_REGIME,
    grade_at_least,
    in_killzone,
    session_of,
)
from titan.strategies.hunter.store import HunterStore
from titan.strategies.hunter.structure import Direction, atr, rs_passes
from titan.strategies.hunter.trading import STRATEGY, Trader
from titan.venues.base import Kline, Ticker, Trade, VenueError

BTC = "BTCUSDT"
MANAGE_EVERY_S = 5.0
FETCH_CONCURRENCY = 8
DECISIONS_KEPT = 50


class Hunter(Strategy):
    name = STRATEGY

    def __init__(self, ctx: StrategyContext, *, store: HunterStore | None = None,
                 params: HunterParams | None = None,
                 killzone: Callable[[int], bool] = in_killzone,
                 regime: Callable[[str], str] = lambda symbol: UNKNOWN_REGIME,
                 flow_sample_ms: int = SAMPLE_MS, manage_every_s: float = MANAGE_EVERY_S) -> None:
        super().__init__(ctx)
        self.params = params or HunterParams.model_validate({})
        self._killzone = killzone
        # symbol → the regime's name ("CRASH", ...); `build_hunter` passes the context's
        # (`ctx.regime`). The default, UNKNOWN for every symbol, is neutral.
        self._regime = regime
        self._flow_sample_ms = flow_sample_ms
        self._manage_every_s = manage_every_s
        self._started = False
        self._running = False
        self.ranked: list[SymbolView] = []
        self.pois: dict[str, PoiSet] = {}
        self.flow: dict[str, CvdTracker] = {}
        self.focus: tuple[str, ...] = ()
        self.last_scan: dict[str, Any] | None = None
        self.decisions: deque[dict[str, Any]] = deque(maxlen=DECISIONS_KEPT)
        self._last_skip: dict[str, str] = {}  # symbol → the condition last published
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self.counters = {"scans": 0, "signals": 0, "entries": 0, "skips": 0}
        self.trader = Trader(ctx, store, self._decide, self._spawn)

    # -- lifetime -----------------------------------------------------------------------

    def timers(self) -> tuple[Timer, ...]:
        return (Timer("scan", self.params.scan_every_s, at_start=True),
                Timer("poi", self.params.poi_every_s, at_start=False),
                Timer("manage", self._manage_every_s, at_start=False))

    async def start(self) -> None:
        await self.trader.load()  # open positions' records: the 2R partial stays taken
        self._started = True
        self.on_pause_change()

    async def stop(self) -> None:
        self._started = False
        self._running = False
        await self.trader.cancel_all("Hunter stopped")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    def on_params(self, params: Mapping[str, Any]) -> None:
        """New parameters at once (the timers' periods at the next start)."""
        self.params = HunterParams.model_validate(dict(params))

    def on_pause_change(self) -> None:
        was = self._running
        self._running = self._started and not self.ctx.pauses()
        if was and not self._running and self.trader.working:
            self._spawn(self.trader.cancel_all("Hunter paused"))

    @property
    def running(self) -> bool:
        return self._running

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.ctx.spawn(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_timer(self, name: str) -> None:
        if name == "scan":
            await self.scan()
        elif name == "poi":
            await self.refresh_pois()
        elif name == "manage":
            await self.trader.manage({v.symbol: v.atr15 for v in self.ranked} | {
                s: atr(p.bars) for s, p in self.pois.items()})

    # -- market data --------------------------------------------------------------------

    def on_ticker(self, ticker: Ticker) -> None:
        self.trader.on_price(ticker.symbol, float(ticker.last_price))

    def on_trade(self, trade: Trade) -> None:
        tracker = self.flow.get(trade.symbol)
        if tracker is not None:
            tracker.add(trade.ts_ms, trade.price, trade.qty, trade.buyer_is_maker)

    # -- the scan -----------------------------------------------------------------------

    async def universe(self) -> list[str]:
        allowed = list(self.ctx.symbols())
        try:
            listing = await self.ctx.listing()
        except (VenueError, ValueError) as exc:
            logger.warning("HUNTER_LISTING_FAILED {}: the whitelist is the universe", exc)
            return allowed
        return universe_of(listing, allowed, self.params.universe_n)

    async def _closed(self, symbol: str, interval: int, limit: int, now: int) -> list[Kline]:
        # one more than needed: the venue's newest bar may still be forming
        return closed(await self.ctx.klines(symbol, interval, limit + 1), interval, now)[-limit:]

    async def scan(self) -> None:
        async with self._lock:
            await self._scan()
        await self.refresh_pois()

    async def _scan(self) -> None:
        now = self.ctx.clock.time_ms()
        symbols = await self.universe()
        skipped: dict[str, str] = {}
        try:
            btc = await self._closed(BTC, 240, H4_BARS, now)
        except (VenueError, ValueError) as exc:
            btc = []
            logger.warning("HUNTER_BTC_UNAVAILABLE {}: no relative strength this scan", exc)
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(symbol: str) -> SymbolView | str:
            if self.ctx.instrument(symbol) is None:
                return "SYMBOL_UNAVAILABLE: the venue lists no such instrument"
            async with gate:
                try:
                    d = await self._closed(symbol, 1440, DAILY_BARS, now)
                    h4 = btc if symbol == BTC and btc else await self._closed(
                        symbol, 240, H4_BARS, now)
                    m15 = await self._closed(symbol, 15, M15_BARS, now)
                except (VenueError, ValueError) as exc:
                    return f"SYMBOL_UNAVAILABLE: {exc}"
            return analyse_symbol(symbol, d, h4, m15, btc, now, self._regime(symbol))

        views: list[SymbolView] = []
        for symbol, got in zip(symbols, await asyncio.gather(*(one(s) for s in symbols)),
                               strict=True):
            if isinstance(got, str):
                skipped[symbol] = got
            else:
                views.append(got)
        self.ranked = rank(views, self.params.top_n)
        self.counters["scans"] += 1
        entries = [v.as_entry() for v in self.ranked]
        self.last_scan = {"atMs": now, "universe": len(symbols), "analysed": len(views),
                          "skipped": skipped, "session": session_of(now)}
        top = ", ".join(f"{e['symbol']} {e['score']} {e['grade']}" for e in entries[:5])
        self._decide(HunterScan(ts=self.ctx.clock.now(),
                                message=f"scan of {len(symbols)}: {top or 'nothing ranked'}",
                                universe=len(symbols), ranked=entries, skipped=skipped),
                     {"kind": "scan", "universe": len(symbols), "ranked": len(entries)})

    # -- POIs and entries ----------------------------------------------------------------

    async def refresh_pois(self) -> None:
        async with self._lock:
            now = self.ctx.clock.time_ms()
            focus = [v for v in self.ranked[:self.params.focus_n]]
            self.focus = tuple(v.symbol for v in focus)
            for s in [s for s in self.flow if s not in self.focus]:
                del self.flow[s]
            for s in self.focus:
                self.flow.setdefault(s, CvdTracker(self._flow_sample_ms))
            for s in [s for s in self.pois if s not in self.focus]:
                del self.pois[s]
            for v in focus:
                try:
                    bars = await self._closed(v.symbol, 15, POI_BARS, now)
                except (VenueError, ValueError) as exc:
                    self._skip(v, v.best.direction, "SYMBOL_UNAVAILABLE", {}, str(exc))
                    continue
                if len(bars) < POI_BARS // 2:
                    self._skip(v, v.best.direction, "SHORT_HISTORY", {"bars": float(len(bars))})
                    continue
                self.pois[v.symbol] = pois_of(v.symbol, bars, now)
            if self._running:
                for v in focus:
                    if v.symbol in self.pois:
                        await self._judge(v, now)

    async def _judge(self, v: SymbolView, now: int) -> None:
        """The entry conditions in order; the first that fails is the skip's name."""
        symbol = v.symbol
        if (symbol in self.trader.working or symbol in self.trader.managed
                or self.ctx.has_position(symbol) or self.ctx.has_working_entry(symbol)):
            return  # one Hunter trade per symbol: the one open is being managed
        d = v.best.direction
        sc = v.scores[d]
        price = self.trader.last_prices.get(symbol, v.price)
        numbers: dict[str, float] = {"score": float(sc.points), "price": price}
        if not grade_at_least(sc.grade, "B"):
            return self._skip(v, d, "GRADE_BELOW_B", numbers)
        if d in v.vetoes:
            return self._skip(v, d, "VETOED", numbers, v.vetoes[d])
        if not self._killzone(now):
            return self._skip(v, d, "NOT_IN_KILLZONE", numbers, session_of(now))
        if not rs_passes(d, v.rs):
            return self._skip(v, d, "RELATIVE_STRENGTH", {**numbers, "rs": v.rs or 0.0})
        zones = self.pois[symbol].zones
        if nearest_zone(zones, d, price, self.params.poi_near_pct) is None:
            return self._skip(v, d, "NO_POI_NEAR_PRICE", numbers)
        block = nearest_zone(zones, d, price, self.params.poi_near_pct, kind="OB")
        if block is None:
            return self._skip(v, d, "NO_ORDER_BLOCK_NEAR_PRICE", numbers)
        tracker = self.flow.get(symbol)
        flow = tracker.signal(d, now) if tracker is not None else None
        if flow is None or not flow.confirms:
            return self._skip(v, d, "CVD_NOT_CONFIRMED", {
                **numbers, "strength": flow.strength if flow else 0.0,
                "cvd": flow.cvd if flow else 0.0})
        plan = plan_entry(symbol, d, block, self.params.stop_pct, self.params.target_pct)
        self.counters["signals"] += 1
        self._last_skip.pop(symbol, None)
        self._decide(HunterSignal(
            ts=self.ctx.clock.now(),
            message=f"{symbol} {d.value} {sc.grade} ({sc.points}): {flow.pattern} "
                    f"{flow.strength:.0f}, entry {plan.entry:.8g}",
            symbol=symbol, direction=d.value, score=sc.points, grade=sc.grade,
            entry=plan.entry, stop=plan.stop, target=plan.target, flow_strength=flow.strength),
            {"kind": "signal", "symbol": symbol, "grade": sc.grade})
        refused = await self.trader.enter(plan, sc.points, now)
        if refused is not None:
            self._skip(v, d, refused.split(":", 1)[0], numbers, refused)
        else:
            self.counters["entries"] += 1

    def _skip(self, v: SymbolView, d: Direction, condition: str, numbers: dict[str, float],
              why: str = "") -> None:
        if self._last_skip.get(v.symbol) == condition:
            return
        self._last_skip[v.symbol] = condition
        self.counters["skips"] += 1
        self._decide(HunterSkip(ts=self.ctx.clock.now(),
                                message=f"{v.symbol} {d.value}: {condition}"
                                        + (f" ({why})" if why else ""),
                                symbol=v.symbol, direction=d.value, condition=condition,
                                numbers=numbers),
                     {"kind": "skip", "symbol": v.symbol, "condition": condition})

    def _decide(self, event: Event, summary: dict[str, Any]) -> None:
        self.ctx.publish(event)
        self.decisions.appendleft({"atMs": self.ctx.clock.time_ms(), "event": event.name,
                                   "message": event.message, **summary})

    # -- operator view ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.ctx.clock.time_ms()
        prices = self.trader.last_prices
        flow = {}
        for s, tr in self.flow.items():
            flow[s] = {"cvd": round(tr.cvd(now), 2), "trades": len(tr),
                       **{d.value.lower(): tr.signal(d, now).as_dict() for d in Direction}}
        return {"running": self._running, "pauses": dict(self.ctx.pauses()),
                "lastScan": self.last_scan, "ranked": [v.as_entry() for v in self.ranked],
                "focus": list(self.focus),
                "pois": {s: p.as_dict(prices.get(s)) for s, p in self.pois.items()},
                "flow": flow, "positions": self.trader.plans(),
                "lossStreak": self.trader.streak.losses,
                "decisions": list(self.decisions), "counters": dict(self.counters)}
