"""The tail-risk regime of a symbol, from its 1-minute log returns (SPEC §17, docs/regime.md).

Pure arithmetic, no clock and no I/O, so the same numbers come out live and in a backtest:

- Hill tail index α = k / Σ ln(x_i / x_(k+1)) over the k largest |returns| (the top 5 %);
  a small α is a fat tail — large moves are common.
- exceedance: the share of |r| above 2.5 σ.
- volatility clustering: the mean autocorrelation of r² at lags 1–3 (> 0.4 expanding,
  > 0.1 quiet, otherwise mean-reverting).

The regime: α ≤ 1.5 CRASH; expanding and α < 2.5 VOLATILE_BREAKOUT; α ≥ 3 STABLE;
otherwise MEAN_REVERSION. Before the warm-up (100 returns) — or on a window with no
movement at all — it is UNKNOWN, which every user treats as neutral.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

WINDOW = 1_000  # returns kept per symbol
WARM_UP = 100  # returns needed before a regime is named
TAIL_SHARE = 0.05  # the Hill estimator's k: the largest 5 % of |r|
EXCEEDANCE_SIGMAS = 2.5
CLUSTER_LAGS = (1, 2, 3)
EXPANDING_ABOVE = 0.4
QUIET_ABOVE = 0.1
CRASH_AT_OR_BELOW = 1.5
BREAKOUT_BELOW = 2.5
STABLE_AT_OR_ABOVE = 3.0
# The gate's tail-risk veto (SPEC §2 check 7a): entries above this leverage are refused
# while the symbol's α is below the bound.
VETO_ALPHA_BELOW = 2.0
VETO_LEVERAGE_ABOVE = 5


class Regime(StrEnum):
    UNKNOWN = "UNKNOWN"
    CRASH = "CRASH"
    VOLATILE_BREAKOUT = "VOLATILE_BREAKOUT"
    MEAN_REVERSION = "MEAN_REVERSION"
    STABLE = "STABLE"


class Clustering(StrEnum):
    EXPANDING = "expanding"
    QUIET = "quiet"
    MEAN_REVERTING = "mean_reverting"


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """One symbol's figures at one minute. alpha is None until the warm-up is over."""

    regime: Regime
    alpha: float | None
    exceedance: float | None
    clustering: float | None
    samples: int

    @property
    def size_scale(self) -> float:
        """Entry size multiplier: clamp(0.6 α − 0.8, 0.1, 1); 1 while the regime is unknown."""
        return 1.0 if self.alpha is None else size_scale(self.alpha)

    def as_dict(self) -> dict[str, Any]:
        return {"regime": self.regime.value, "alpha": self.alpha, "exceedance": self.exceedance,
                "clustering": self.clustering,
                "clusteringKind": None if self.clustering is None
                else clustering_kind(self.clustering).value,
                "sizeScale": self.size_scale, "samples": self.samples}


UNKNOWN_READING = RegimeReading(Regime.UNKNOWN, None, None, None, 0)


def hill_alpha(returns: Sequence[float], tail_share: float = TAIL_SHARE) -> float | None:
    """The Hill estimator over the largest `tail_share` of |returns|; None when undefined
    (fewer than two non-zero magnitudes, or the threshold x_(k+1) is 0)."""
    xs = sorted((abs(r) for r in returns), reverse=True)
    k = max(1, int(len(xs) * tail_share))
    if len(xs) <= k:
        return None
    threshold = xs[k]
    if threshold <= 0.0:
        return None
    total = sum(math.log(x / threshold) for x in xs[:k])
    if total <= 0.0:  # the top k all equal the threshold: no tail to measure
        return None
    return k / total


def exceedance(returns: Sequence[float], sigmas: float = EXCEEDANCE_SIGMAS) -> float:
    """The share of |r| above `sigmas` standard deviations (population σ of the window);
    0 for a window without spread. That is tested on the values, not on σ == 0: the σ of
    equal values comes out of floating point as ~1e-19, and every |r| would "exceed" it."""
    n = len(returns)
    if n == 0 or max(returns) == min(returns):
        return 0.0
    mean = sum(returns) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / n)
    return sum(1 for r in returns if abs(r) > sigmas * sd) / n


def clustering(returns: Sequence[float], lags: Sequence[int] = CLUSTER_LAGS) -> float:
    """Mean autocorrelation of squared returns at `lags` (0 when r² does not vary: tested
    on the values, since the rounding residue of a constant r² would correlate at ~0.9)."""
    sq = [r * r for r in returns]
    n = len(sq)
    if n == 0 or max(sq) == min(sq):
        return 0.0
    mean = sum(sq) / n
    dev = [y - mean for y in sq]
    denom = sum(d * d for d in dev)
    acfs = [sum(dev[t] * dev[t + lag] for t in range(n - lag)) / denom for lag in lags]
    return sum(acfs) / len(acfs)


def clustering_kind(value: float) -> Clustering:
    if value > EXPANDING_ABOVE:
        return Clustering.EXPANDING
    if value > QUIET_ABOVE:
        return Clustering.QUIET
    return Clustering.MEAN_REVERTING


def classify(alpha: float, cluster: float) -> Regime:
    """The rule order matters: a crash-grade tail is a crash whatever the clustering."""
    if alpha <= CRASH_AT_OR_BELOW:
        return Regime.CRASH
    if clustering_kind(cluster) is Clustering.EXPANDING and alpha < BREAKOUT_BELOW:
        return Regime.VOLATILE_BREAKOUT
    if alpha >= STABLE_AT_OR_ABOVE:
        return Regime.STABLE
    return Regime.MEAN_REVERSION


def size_scale(alpha: float) -> float:
    """clamp(0.6 α − 0.8, 0.1, 1): full size from α = 3, a tenth at α ≤ 1.5.

    Written (6 α − 8) / 10 so the edges are exact: 0.6 × 3 − 0.8 is 0.9999999999999998 in
    floating point, which would round a full-size entry down by one quantity step."""
    return min(1.0, max(0.1, (6.0 * alpha - 8.0) / 10.0))


def read(returns: Sequence[float], warm_up: int = WARM_UP) -> RegimeReading:
    """The reading for a window of returns (oldest first)."""
    n = len(returns)
    if n < warm_up:
        return RegimeReading(Regime.UNKNOWN, None, None, None, n)
    alpha = hill_alpha(returns)
    if alpha is None:
        return RegimeReading(Regime.UNKNOWN, None, None, None, n)
    cluster = clustering(returns)
    return RegimeReading(classify(alpha, cluster), alpha, exceedance(returns), cluster, n)


def tail_veto(alpha: float | None, leverage: float | Decimal) -> bool:
    """True when an entry at `leverage` is refused for a tail this fat (α unknown: never)."""
    return alpha is not None and alpha < VETO_ALPHA_BELOW and leverage > VETO_LEVERAGE_ABOVE


class RegimeTracker:
    """Per-symbol rolling windows of 1-minute log returns, fed one closed bar at a time.

    A bar is identified by its start time when one is given: a bar not newer than the
    last one taken is ignored, so a warm-up history and the live minute that overlaps it
    (or a bar read twice) never add a spurious zero return.
    """

    def __init__(self, window: int = WINDOW, warm_up: int = WARM_UP) -> None:
        if window < warm_up or warm_up < 2:
            raise ValueError(f"window {window} must be >= warm-up {warm_up} >= 2")
        self._window = window
        self._warm_up = warm_up
        self._returns: dict[str, deque[float]] = {}
        self._last_close: dict[str, float] = {}
        self._last_start: dict[str, int] = {}
        self._readings: dict[str, RegimeReading] = {}

    def add_close(self, symbol: str, close: float, start_ms: int | None = None) -> RegimeReading:
        """Add one closed 1-minute bar's close and read the window again. A non-positive or
        non-finite close is ignored (it has no log); so is a bar already taken."""
        self._append(symbol, close, start_ms)
        return self.recompute(symbol)

    def add_closes(self, symbol: str, bars: Sequence[tuple[int, float]]) -> RegimeReading:
        """A history of (start_ms, close), oldest first; one reading at the end."""
        for start_ms, close in bars:
            self._append(symbol, close, start_ms)
        return self.recompute(symbol)

    def _append(self, symbol: str, close: float, start_ms: int | None) -> None:
        if start_ms is not None:
            last = self._last_start.get(symbol)
            if last is not None and start_ms <= last:
                return
            self._last_start[symbol] = start_ms
        if close > 0.0 and math.isfinite(close):
            prev = self._last_close.get(symbol)
            self._last_close[symbol] = close
            if prev is not None:
                window = self._returns.setdefault(symbol, deque(maxlen=self._window))
                window.append(math.log(close / prev))

    def recompute(self, symbol: str) -> RegimeReading:
        reading = read(list(self._returns.get(symbol, ())), self._warm_up)
        self._readings[symbol] = reading
        return reading

    def reading(self, symbol: str) -> RegimeReading:
        return self._readings.get(symbol, UNKNOWN_READING)

    def last_start(self, symbol: str) -> int | None:
        """The start time of the newest bar taken for `symbol` (None: none with a time)."""
        return self._last_start.get(symbol)

    def regime(self, symbol: str) -> Regime:
        return self.reading(symbol).regime

    def symbols(self) -> list[str]:
        return sorted(self._readings)
