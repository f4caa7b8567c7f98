"""Sentinel on the platform: it samples each pair's basis every minute and judges the
entry, but does not trade yet.

Each minute (1.5 s after the boundary) and at start, for every symbol of its parameters:
both books read (spot and perpetual, through the `books` service — the spot leg of the
venue), the basis of an entry of the intended size (`pairEquityPct` of equity, halved in
VOLATILE_BREAKOUT, nothing in CRASH) priced from their depth, added to the symbol's
one-minute series, its z-score, and the entry test — published as `SENTINEL_BASIS`. A
book that cannot be read is a named skip (`decision=BOOK_UNAVAILABLE`), never a crash.

Funding is not available to strategies yet (the venue interface has no funding call), so
the entry test answers NO_FUNDING at most: no carry is claimed without it. Trading the
decision — the both-or-neither pair entry (`titan.execution.pair`), TWAP, unwind, the
monitors' actions — is the next step of issue 20; until then this strategy places nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from titan.events import SentinelBasis
from titan.risk.regime import Regime
from titan.strategies.base import Strategy, StrategyContext, Timer
from titan.strategies.sentinel.basis import BasisSeries, entry_basis
from titan.strategies.sentinel.carry import entry_test
from titan.strategies.sentinel.monitors import regime_size_factor
from titan.strategies.sentinel.params import SentinelParams

STRATEGY = "sentinel"
NOT_TRADING = "pair entries are not wired yet: Sentinel samples the basis only (issue 20)"
SAMPLE_EVERY_S = 60.0
SAMPLE_OFFSET_S = 1.5
DEPTH = 50
PRICE_Q = Decimal("0.00000001")
Levels = list[tuple[Decimal, Decimal]]


class Books(Protocol):
    async def book(self, symbol: str, depth: int = 50, *,
                   category: str = "spot") -> tuple[Levels, Levels]: ...


class Sentinel(Strategy):
    name = STRATEGY

    def __init__(self, ctx: StrategyContext, *, params: SentinelParams | None = None,
                 books: Books | None = None,
                 regime: Callable[[str], str] = lambda symbol: Regime.UNKNOWN.value) -> None:
        super().__init__(ctx)
        self.params = params or SentinelParams.model_validate({})
        self.books = books
        self._regime = regime  # symbol → Regime name, until the platform gives one
        self.series: dict[str, BasisSeries] = {}
        self.last: dict[str, dict[str, Any]] = {}

    def timers(self) -> tuple[Timer, ...]:
        return (Timer("sample", SAMPLE_EVERY_S, offset_s=SAMPLE_OFFSET_S, aligned=True),)

    async def on_timer(self, name: str) -> None:
        if name == "sample":
            await self.sample()

    def on_params(self, params: Mapping[str, Any]) -> None:
        self.params = SentinelParams.model_validate(dict(params))

    def _size(self, symbol: str, price: Decimal) -> Decimal:
        equity = self.ctx.equity() or Decimal(0)
        notional = equity * Decimal(str(self.params.pair_equity_pct)) / 100
        return notional * regime_size_factor(self._regime(symbol)) / price

    async def sample(self) -> None:
        """One basis sample per symbol (see the module's docstring)."""
        now = self.ctx.clock.time_ms()
        for symbol in self.params.symbols:
            series = self.series.get(symbol)
            if series is None or series.window != self.params.z_window:
                series = self.series[symbol] = BasisSeries(self.params.z_window)
            if self.books is None:
                self.last[symbol] = {"decision": "NO_SPOT_LEG"}
                continue
            try:
                _, spot_asks = await self.books.book(symbol, DEPTH)
                perp_bids, _ = await self.books.book(symbol, DEPTH, category="linear")
            except Exception as exc:  # a venue error, an unknown symbol: a named skip
                self.last[symbol] = {"decision": "BOOK_UNAVAILABLE", "error": str(exc)}
                continue
            if not spot_asks or not perp_bids:
                self.last[symbol] = {"decision": "BOOK_UNAVAILABLE", "error": "empty book"}
                continue
            qty = self._size(symbol, spot_asks[0][0])
            if qty <= 0:  # no equity yet, or CRASH: price the top of the book
                qty = min(spot_asks[0][1], perp_bids[0][1])
            pb = entry_basis(spot_asks=spot_asks, perp_bids=perp_bids, qty=qty)
            spot_px, perp_px = (f"{p.price.quantize(PRICE_Q):f}" for p in (pb.spot, pb.perp))
            qty_s = f"{qty.quantize(PRICE_Q):f}"
            series.add(now, pb.basis)
            z = series.z()
            decision = entry_test(z=z, basis=pb.basis, funding_rate=None,
                                  z_entry=self.params.z_entry,
                                  taker_fee_pct=self.params.taker_fee_pct)
            self.last[symbol] = {"basis": pb.basis, "z": z, "samples": len(series),
                                 "spotPrice": spot_px, "perpPrice": perp_px,
                                 "qty": qty_s, "decision": decision.outcome.value,
                                 "covered": pb.covered, "atMs": now}
            self.ctx.publish(SentinelBasis(
                ts=self.ctx.clock.now(),
                message=f"{symbol} basis {pb.basis * 100:.4f}% z "
                        f"{'—' if z is None else f'{z:.2f}'}: {decision.outcome.value}",
                symbol=symbol, basis=pb.basis, z=z, samples=len(series),
                spot_price=spot_px, perp_price=perp_px, qty=qty_s,
                decision=decision.outcome.value, covered=pb.covered))

    def status(self) -> dict[str, Any]:
        return {"trading": False, "reason": NOT_TRADING, "symbols": list(self.params.symbols),
                "basis": dict(self.last), "pairs": []}
