"""TWAP slicing of a pair's orders and the slippage abort.

An order above $5,000 is sliced into clips of at most $500, sent 30–90 s apart with
jitter from a seeded generator (the same seed gives the same schedule: replays and tests
are reproducible; different pairs get different seeds so their clips do not line up).
Both legs are sliced with the same clip quantities so each clip is itself a neutral pair.
A clip whose fill is more than 0.2 % worse than the price at the schedule's start aborts
the rest: the pair stops growing where it is (still neutral), it does not chase.

Quantities are in coin and multiples of `qty_step` (the coarser of the two legs' steps:
the perp's), and the clips add up to exactly the total.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

TWAP_ABOVE_USD = Decimal(5_000)
CLIP_USD = Decimal(500)
MIN_GAP_S = 30.0
MAX_GAP_S = 90.0
MAX_SLIPPAGE_PCT = 0.2


@dataclass(frozen=True, slots=True)
class Clip:
    index: int
    qty: Decimal
    at_s: float  # seconds after the schedule's start


def _floor(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_DOWN) * step


def schedule(total_qty: Decimal, price: Decimal, qty_step: Decimal, *, seed: str,
             above_usd: Decimal = TWAP_ABOVE_USD, clip_usd: Decimal = CLIP_USD,
             min_gap_s: float = MIN_GAP_S, max_gap_s: float = MAX_GAP_S) -> list[Clip]:
    """The clips for `total_qty` at `price`. At or below `above_usd` one clip, now."""
    if total_qty <= 0 or price <= 0 or qty_step <= 0:
        raise ValueError("qty, price and step must be positive")
    if total_qty % qty_step != 0:
        raise ValueError("qty is not a multiple of the step")
    if not 0 <= min_gap_s <= max_gap_s:
        raise ValueError("gaps must satisfy 0 ≤ min ≤ max")
    if total_qty * price <= above_usd:
        return [Clip(0, total_qty, 0.0)]
    max_clip = _floor(clip_usd / price, qty_step)
    if max_clip <= 0:
        raise ValueError("one qty step is worth more than a clip")
    n = int((total_qty / max_clip).to_integral_value(ROUND_CEILING))  # Decimal // truncates
    base = _floor(total_qty / n, qty_step)
    extra = int((total_qty - base * n) / qty_step)  # < n steps, one each to the first clips
    rng = random.Random(seed)
    clips, at = [], 0.0
    for i in range(n):
        if i:
            at += rng.uniform(min_gap_s, max_gap_s)
        clips.append(Clip(i, base + (qty_step if i < extra else 0), round(at, 3)))
    return clips


def slippage(reference: Decimal, fill: Decimal, *, buy: bool) -> float:
    """How much worse than `reference` the fill was, as a fraction (negative: better)."""
    if reference <= 0 or fill <= 0:
        raise ValueError("prices must be positive")
    return float((fill - reference) / reference if buy else (reference - fill) / reference)


@dataclass(slots=True)
class TwapRun:
    """The progress of one pair's sliced entry (or unwind): which clips are done, and
    whether it was aborted. The references are each leg's price at the start."""

    clips: list[Clip]
    spot_ref: Decimal
    perp_ref: Decimal
    spot_buy: bool = True  # entry buys spot and sells the perp; unwind the reverse
    max_slippage_pct: float = MAX_SLIPPAGE_PCT
    done: int = 0
    filled_qty: Decimal = Decimal(0)
    aborted: str | None = None
    slips: list[tuple[float, float]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.aborted is not None or self.done >= len(self.clips)

    def next_clip(self) -> Clip | None:
        return None if self.finished else self.clips[self.done]

    def record(self, qty: Decimal, spot_fill: Decimal, perp_fill: Decimal) -> bool:
        """A clip filled on both legs; False when its slippage aborts the rest."""
        s = slippage(self.spot_ref, spot_fill, buy=self.spot_buy)
        p = slippage(self.perp_ref, perp_fill, buy=not self.spot_buy)
        self.slips.append((s, p))
        self.done += 1
        self.filled_qty += qty
        limit = self.max_slippage_pct / 100.0
        if max(s, p) > limit:
            self.aborted = f"slippage {max(s, p) * 100:.3f}% > {self.max_slippage_pct}%"
            return False
        return True
