"""Sentinel on the platform: each minute it samples each pair's basis, enters a pair when
the entry test passes, and unwinds it by the unwind rules.

Each minute (1.5 s after the boundary) and at start, for every symbol of its parameters:
both books read (spot and perpetual, through the `books` service — the spot leg of the
venue), the basis of an entry of the intended size (`pairEquityPct` of equity × the
regime's factor: half in VOLATILE_BREAKOUT, nothing in CRASH) priced from their depth,
added to the symbol's one-minute series, its z-score, and the entry test with the
perpetual's funding rate from its ticker — published as `SENTINEL_BASIS`. A book that
cannot be read is a named skip (`decision=BOOK_UNAVAILABLE`), never a crash.

With no pair on the symbol, an ENTER (z ≥ zEntry and basis + funding beat four taker
fees) while the strategy may trade opens one through the `pairs` service — the
both-or-neither pair entry (`titan.execution.pair`): spot bought, then the perp short
through the gate (check 8h: a hedged short needs no stop). One pair per symbol. With a
pair open, the unwind rules are judged on the exit prices by depth: FUNDING_AGAINST (the
short paid `fundingAgainstN` settlements running) or CONVERGED (z ≤ zExit and the pair
in profit, exit fees counted) — both legs closed through the same service, even while
paused (an unwind is an exit). Funding is booked per pair from the ticker
(`titan.strategies.sentinel.pairs`), `SENTINEL_FUNDING` each settlement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from titan.events import SentinelBasis, SentinelFunding
from titan.risk.regime import Regime
from titan.strategies.base import Strategy, StrategyContext, Timer
from titan.strategies.sentinel.basis import BasisSeries, entry_basis, exit_basis
from titan.strategies.sentinel.carry import EntryDecision, entry_test, pair_pnl, unwind_reason
from titan.strategies.sentinel.monitors import regime_size_factor
from titan.strategies.sentinel.pairs import OpenPair
from titan.strategies.sentinel.params import SentinelParams
from titan.venues.base import Ticker

STRATEGY = "sentinel"
NO_PAIRS = "no pair entry on this venue (no spot leg)"
SAMPLE_EVERY_S = 60.0
SAMPLE_OFFSET_S = 1.5
DEPTH = 50
PRICE_Q = Decimal("0.00000001")
CLOSED_KEPT = 20
Levels = list[tuple[Decimal, Decimal]]


class Books(Protocol):
    async def book(self, symbol: str, depth: int = 50, *,
                   category: str = "spot") -> tuple[Levels, Levels]: ...


class Pairs(Protocol):
    """`titan.execution.pair.PairEntry`, seen through what Sentinel uses."""

    async def enter(self, pair_id: str, symbol: str, qty: Decimal,
                    reason: str = "") -> Any: ...

    async def unwind(self, pair_id: str, symbol: str, perp_qty: Decimal, why: str, *,
                     funding: Decimal = ...) -> tuple[Decimal, Decimal, bool]: ...


class Sentinel(Strategy):
    name = STRATEGY

    def __init__(self, ctx: StrategyContext, *, params: SentinelParams | None = None,
                 books: Books | None = None, pairs: Pairs | None = None,
                 regime: Callable[[str], Regime | str] | None = None) -> None:
        super().__init__(ctx)
        self.params = params or SentinelParams.model_validate({})
        self.books, self.pairs = books, pairs
        self._regime = regime or ctx.regime  # the platform's regime (SPEC §17)
        self.series: dict[str, BasisSeries] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.funding: dict[str, tuple[Decimal | None, int | None, Decimal]] = {}
        self.open: dict[str, OpenPair] = {}
        self.closed: list[dict[str, Any]] = []
        self.blocked: dict[str, str] = {}  # symbol → why no new pair (a leg unresolved)
        self._busy: set[str] = set()

    def timers(self) -> tuple[Timer, ...]:
        return (Timer("sample", SAMPLE_EVERY_S, offset_s=SAMPLE_OFFSET_S, aligned=True),)

    async def on_timer(self, name: str) -> None:
        if name == "sample":
            await self.sample()

    def on_params(self, params: Mapping[str, Any]) -> None:
        self.params = SentinelParams.model_validate(dict(params))

    def on_ticker(self, ticker: Ticker) -> None:
        # The hot path: keep the funding schedule; book a settlement to an open pair.
        if ticker.funding_rate is None and ticker.next_funding_ms is None:
            return
        self.funding[ticker.symbol] = (ticker.funding_rate, ticker.next_funding_ms,
                                       ticker.last_price)
        pair = self.open.get(ticker.symbol)
        if pair is None:
            return
        paid = pair.on_schedule(ticker.funding_rate, ticker.next_funding_ms, ticker.last_price)
        if paid is not None:
            self.ctx.publish(SentinelFunding(
                ts=self.ctx.clock.now(),
                message=f"{pair.symbol} pair {pair.pair_id}: funding {paid:.6f} "
                        f"({pair.streak.against} against in a row)",
                pair_id=pair.pair_id, symbol=pair.symbol, rate=str(pair.rate),
                payment=str(paid), against=pair.streak.against))

    def _may_trade(self) -> str | None:
        """Why no new pair may be entered now, or None."""
        if self.pairs is None:
            return NO_PAIRS
        pauses = self.ctx.pauses()
        if pauses:
            return "paused: " + ", ".join(f"{k} ({v})" for k, v in pauses.items())
        return None

    def _size(self, symbol: str, price: Decimal) -> Decimal:
        equity = self.ctx.equity() or Decimal(0)
        notional = equity * Decimal(str(self.params.pair_equity_pct)) / 100
        return notional * regime_size_factor(self._regime(symbol)) / price

    async def sample(self) -> None:
        """One basis sample per symbol, then its pair's entry or unwind (the docstring)."""
        for symbol in self.params.symbols:
            if symbol in self._busy:  # a pair entry or unwind still running
                continue
            self._busy.add(symbol)
            try:
                await self._sample(symbol)
            finally:
                self._busy.discard(symbol)

    async def _sample(self, symbol: str) -> None:
        now = self.ctx.clock.time_ms()
        series = self.series.get(symbol)
        if series is None or series.window != self.params.z_window:
            series = self.series[symbol] = BasisSeries(self.params.z_window)
        if self.books is None:
            self.last[symbol] = {"decision": "NO_SPOT_LEG"}
            return
        try:
            spot_bids, spot_asks = await self.books.book(symbol, DEPTH)
            perp_bids, perp_asks = await self.books.book(symbol, DEPTH, category="linear")
        except Exception as exc:  # a venue error, an unknown symbol: a named skip
            self.last[symbol] = {"decision": "BOOK_UNAVAILABLE", "error": str(exc)}
            return
        if not spot_asks or not perp_bids:
            self.last[symbol] = {"decision": "BOOK_UNAVAILABLE", "error": "empty book"}
            return
        qty = sized = self._size(symbol, spot_asks[0][0])
        if qty <= 0:  # no equity yet, or CRASH: price the top of the book
            qty = min(spot_asks[0][1], perp_bids[0][1])
        pb = entry_basis(spot_asks=spot_asks, perp_bids=perp_bids, qty=qty)
        spot_px, perp_px = (f"{p.price.quantize(PRICE_Q):f}" for p in (pb.spot, pb.perp))
        qty_s = f"{qty.quantize(PRICE_Q):f}"
        series.add(now, pb.basis)
        z = series.z()
        rate = self.funding.get(symbol, (None, None, Decimal(0)))[0]
        decision = entry_test(z=z, basis=pb.basis,
                              funding_rate=None if rate is None else float(rate),
                              z_entry=self.params.z_entry,
                              taker_fee_pct=self.params.taker_fee_pct)
        self.last[symbol] = {"basis": pb.basis, "z": z, "samples": len(series),
                             "spotPrice": spot_px, "perpPrice": perp_px,
                             "qty": qty_s, "decision": decision.outcome.value,
                             "funding": None if rate is None else str(rate),
                             "covered": pb.covered, "atMs": now}
        self.ctx.publish(SentinelBasis(
            ts=self.ctx.clock.now(),
            message=f"{symbol} basis {pb.basis * 100:.4f}% z "
                    f"{'—' if z is None else f'{z:.2f}'}: {decision.outcome.value}",
            symbol=symbol, basis=pb.basis, z=z, samples=len(series),
            spot_price=spot_px, perp_price=perp_px, qty=qty_s,
            decision=decision.outcome.value, covered=pb.covered))
        pair = self.open.get(symbol)
        if pair is not None:
            await self._judge(pair, z, spot_bids, perp_asks)
        elif decision.enter and sized > 0 and symbol not in self.blocked \
                and self._may_trade() is None:
            await self._enter(symbol, sized, pb.spot.price, pb.perp.price, pb.basis, decision)

    async def _enter(self, symbol: str, qty: Decimal, spot_px: Decimal, perp_px: Decimal,
                     basis: float, decision: EntryDecision) -> None:
        assert self.pairs is not None
        now = self.ctx.clock.time_ms()
        pair_id = f"{STRATEGY}:{symbol}:{now}"
        reason = (f"z {decision.z:.2f}, carry {(decision.carry or 0) * 100:.3f}% > fees "
                  f"{decision.fees * 100:.2f}%")
        res = await self.pairs.enter(pair_id, symbol, qty, reason)
        outcome = str(res.outcome)
        if outcome == "UNRESOLVED":  # a leg may exist: no new pair until it is resolved
            self.blocked[symbol] = f"{pair_id}: {res.why}"
        if outcome != "ENTERED":
            return
        fee = Decimal(str(self.params.taker_fee_pct)) / 100
        pair = OpenPair(pair_id, symbol, res.spot_qty, res.perp_qty, spot_px, perp_px, basis,
                        now, fees_paid=fee * (res.spot_qty * spot_px + res.perp_qty * perp_px))
        rate, next_ms, _ = self.funding.get(symbol, (None, None, Decimal(0)))
        pair.rate, pair.next_funding_ms = rate, next_ms  # it waits for the next settlement
        self.open[symbol] = pair

    def _pnl(self, pair: OpenPair, spot_bids: Levels, perp_asks: Levels) -> Decimal | None:
        try:
            xb = exit_basis(spot_bids=spot_bids, perp_asks=perp_asks, qty=pair.spot_qty)
        except ValueError:  # an empty or bad book: no judgement this minute
            return None
        return pair_pnl(qty_spot=pair.spot_qty, spot_entry=pair.spot_entry,
                        spot_now=xb.spot.price, qty_perp=pair.perp_qty,
                        perp_entry=pair.perp_entry, perp_now=xb.perp.price,
                        funding=pair.funding, fees_paid=pair.fees_paid,
                        taker_fee_pct=self.params.taker_fee_pct)

    async def _judge(self, pair: OpenPair, z: float | None, spot_bids: Levels,
                     perp_asks: Levels) -> None:
        assert self.pairs is not None
        pnl = self._pnl(pair, spot_bids, perp_asks)
        self.last[pair.symbol]["pairPnl"] = None if pnl is None else str(pnl)
        if pnl is None:
            return
        why = unwind_reason(z=z, pnl=pnl, funding_against=pair.streak.against,
                            z_exit=self.params.z_exit,
                            funding_against_n=self.params.funding_against_n)
        if why is None:
            return
        bought, _sold, complete = await self.pairs.unwind(pair.pair_id, pair.symbol,
                                                         pair.perp_qty, why.value,
                                                         funding=pair.funding)
        if bought <= 0:  # the short is still open: the pair stays, judged next minute
            return
        del self.open[pair.symbol]
        self.closed = [*self.closed, {**self._view(pair), "why": why.value,
                                      "pnl": str(pnl), "complete": complete,
                                      "closedAtMs": self.ctx.clock.time_ms()}][-CLOSED_KEPT:]

    def _view(self, p: OpenPair) -> dict[str, Any]:
        size = max(p.spot_qty, p.perp_qty)
        delta = float((p.spot_qty - p.perp_qty) / size * 100) if size > 0 else 0.0
        last = self.last.get(p.symbol, {})
        return {"pairId": p.pair_id, "symbol": p.symbol, "basis": p.basis, "z": last.get("z"),
                "funding": None if p.rate is None else str(p.rate),
                "legs": {"spot": str(p.spot_qty), "perp": str(p.perp_qty)},
                "entry": {"spot": str(p.spot_entry), "perp": str(p.perp_entry)},
                "delta": delta, "marginUse": None, "carryEarned": str(p.funding),
                "settlements": p.settlements, "fundingAgainst": p.streak.against,
                "feesPaid": str(p.fees_paid), "pnl": last.get("pairPnl"),
                "openedAtMs": p.opened_ms}

    def status(self) -> dict[str, Any]:
        why = self._may_trade()
        return {"trading": why is None, "reason": why or "", "symbols": list(self.params.symbols),
                "basis": dict(self.last), "pairs": [self._view(p) for p in self.open.values()],
                "closed": list(self.closed), "blocked": dict(self.blocked)}
