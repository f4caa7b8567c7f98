"""The pair's basis, from depth-weighted prices, and its one-minute z-score.

Basis = (perp price − spot price) / spot price. Each price is what the intended size
would actually pay: the volume-weighted average of walking the book for that quantity
(asks for a buy, bids for a sell), the top of book when no depth is known. Entering the
pair buys spot and sells the perp, so its basis is taken from spot asks and perp bids;
unwinding sells spot and buys the perp (spot bids, perp asks).

The z-score is over the last 60 one-minute samples (the original sampled every second:
far too noisy). One sample per minute: a second sample in the same minute replaces the
first, an older minute is ignored, and samples more than the window's span older than
the newest are dropped — after a feed gap the z-score waits for a full window again
rather than compare the present with a stale hour.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

Level = tuple[Decimal, Decimal]  # (price, qty)

MINUTE_MS = 60_000
Z_WINDOW = 60


@dataclass(frozen=True, slots=True)
class DepthPrice:
    """The average price for `qty`; `covered` is False when the book was thinner than
    `qty` (the rest is priced at the worst level seen: a conservative estimate)."""

    price: Decimal
    covered: bool


def depth_price(levels: Sequence[Level], qty: Decimal, *, top: Decimal | None = None,
                ascending: bool) -> DepthPrice:
    """Walk `levels` (asks `ascending`, bids descending) for `qty`. With no levels the
    top of book `top` is the price. A level out of order, a non-positive price or qty,
    or no price at all is a ValueError: a basis from a bad book would open a bad pair."""
    if qty <= 0:
        raise ValueError("qty must be positive")
    if not levels:
        if top is None or top <= 0:
            raise ValueError("no depth and no top of book")
        return DepthPrice(top, True)
    prev = None
    for price, size in levels:  # the whole book: a bad level anywhere is a bad feed
        if price <= 0 or size <= 0:
            raise ValueError("a level with a non-positive price or size")
        if prev is not None and (price < prev if ascending else price > prev):
            raise ValueError("levels out of order")
        prev = price
    remaining, cost = qty, Decimal(0)
    for price, size in levels:
        take = min(size, remaining)
        cost += take * price
        remaining -= take
        if remaining == 0:
            return DepthPrice(cost / qty, True)
    assert prev is not None
    return DepthPrice((cost + remaining * prev) / qty, False)


def basis(perp: Decimal, spot: Decimal) -> float:
    if perp <= 0 or spot <= 0:
        raise ValueError("prices must be positive")
    return float((perp - spot) / spot)


@dataclass(frozen=True, slots=True)
class PairBasis:
    basis: float
    spot: DepthPrice
    perp: DepthPrice

    @property
    def covered(self) -> bool:
        return self.spot.covered and self.perp.covered


def entry_basis(*, spot_asks: Sequence[Level], perp_bids: Sequence[Level], qty: Decimal,
                spot_top: Decimal | None = None, perp_top: Decimal | None = None) -> PairBasis:
    """The basis an entry of `qty` coins would lock in: buy spot at the asks, sell the
    perp at the bids."""
    spot = depth_price(spot_asks, qty, top=spot_top, ascending=True)
    perp = depth_price(perp_bids, qty, top=perp_top, ascending=False)
    return PairBasis(basis(perp.price, spot.price), spot, perp)


def exit_basis(*, spot_bids: Sequence[Level], perp_asks: Sequence[Level], qty: Decimal,
               spot_top: Decimal | None = None, perp_top: Decimal | None = None) -> PairBasis:
    """The basis an unwind of `qty` would pay: sell spot at the bids, buy the perp back."""
    spot = depth_price(spot_bids, qty, top=spot_top, ascending=False)
    perp = depth_price(perp_asks, qty, top=perp_top, ascending=True)
    return PairBasis(basis(perp.price, spot.price), spot, perp)


def zscore(samples: Iterable[float]) -> float | None:
    """(last − mean) / σ (population σ) over `samples`; None for fewer than two or a flat
    series (σ = 0: no spread to measure a move against)."""
    xs = list(samples)
    if len(xs) < 2:
        return None
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    if var <= 0.0:
        return None
    sd = math.sqrt(var)
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return None
    return (xs[-1] - mean) / sd


class BasisSeries:
    """One symbol's one-minute basis samples and their z-score."""

    def __init__(self, window: int = Z_WINDOW) -> None:
        if window < 2:
            raise ValueError("the window needs at least two samples")
        self.window = window
        self._samples: deque[tuple[int, float]] = deque()

    def add(self, ts_ms: int, value: float) -> bool:
        """Record the basis at `ts_ms`; False when ignored (an older minute, not finite)."""
        if not math.isfinite(value):
            return False
        minute = ts_ms // MINUTE_MS
        if self._samples:
            last = self._samples[-1][0]
            if minute < last:
                return False
            if minute == last:
                self._samples[-1] = (minute, value)
                return True
        self._samples.append((minute, value))
        while self._samples and self._samples[0][0] <= minute - self.window:
            self._samples.popleft()
        return True

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def ready(self) -> bool:
        return len(self._samples) >= self.window

    @property
    def last(self) -> float | None:
        return self._samples[-1][1] if self._samples else None

    def values(self) -> list[float]:
        return [v for _, v in self._samples]

    def z(self) -> float | None:
        """The z-score of the newest sample; None until a full window is held."""
        return zscore(self.values()) if self.ready else None
