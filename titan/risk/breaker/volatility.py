"""Breaker rule: a whitelisted symbol moving more than X % within W seconds (SPEC §4:
5 % in 60 s by default)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from titan.domain import Severity
from titan.risk.breaker.rule import BreakerRule, Finding
from titan.risk.config import RiskConfig


class _Window:
    """Sliding window min/max of one symbol's prices (monotonic deques: amortised O(1))."""

    __slots__ = ("last_ts", "maxs", "mins")

    def __init__(self) -> None:
        self.mins: deque[tuple[int, float]] = deque()
        self.maxs: deque[tuple[int, float]] = deque()
        self.last_ts = 0


class VolatilityRule(BreakerRule):
    """A whitelisted symbol moving more than X% within W seconds.

    Every pair of prices at most W apart is compared when the later one arrives (a
    price exactly W old is still in the window): the move is measured against the
    window's low (rise) and high (fall). A move of exactly X % does not trip.
    """

    name = "EXTREME_VOLATILITY"

    def __init__(self, move_pct: float = 5.0, window_s: float = 60.0,
                 whitelist: Sequence[str] = ()) -> None:
        self._windows: dict[str, _Window] = {}
        self.move = move_pct / 100.0
        self.window_ms = int(window_s * 1000)
        self.whitelist = frozenset(whitelist)

    def configure(self, config: RiskConfig) -> None:
        self.move = config.volatility_move_pct / 100.0
        self.window_ms = int(config.volatility_window_s * 1000)
        self.whitelist = frozenset(config.whitelist)
        for symbol in list(self._windows):
            if symbol not in self.whitelist:
                del self._windows[symbol]

    def on_price(self, symbol: str, price: float, ts_ms: int) -> Finding | None:
        if symbol not in self.whitelist or not price > 0:
            return None
        w = self._windows.get(symbol)
        if w is None:
            w = self._windows[symbol] = _Window()
        # Out-of-order timestamps are taken as "now": the window only moves forward.
        ts = ts_ms if ts_ms > w.last_ts else w.last_ts
        w.last_ts = ts
        horizon = ts - self.window_ms
        mins, maxs = w.mins, w.maxs
        while mins and mins[0][0] < horizon:
            mins.popleft()
        while maxs and maxs[0][0] < horizon:
            maxs.popleft()
        while mins and mins[-1][1] >= price:
            mins.pop()
        mins.append((ts, price))
        while maxs and maxs[-1][1] <= price:
            maxs.pop()
        maxs.append((ts, price))
        low = mins[0][1]
        high = maxs[0][1]
        rise = (price - low) / low
        fall = (high - price) / high
        if rise <= self.move and fall <= self.move:
            return None
        up = rise >= fall
        move = rise if up else fall
        ref = low if up else high
        return Finding(
            self.name, True,
            f"{symbol} moved {'+' if up else '-'}{move:.2%} within {self.window_ms / 1000:g}s "
            f"({ref:g} -> {price:g}; limit {self.move:.2%})",
            Severity.CRITICAL,
            {"symbol": symbol, "movePct": round(move * 100, 4), "from": ref, "to": price,
             "windowS": self.window_ms / 1000, "limitPct": self.move * 100},
        )

    def on_tripped(self) -> None:
        # The move that tripped it must not trip it again when the breaker clears.
        self._windows.clear()

    def on_reset(self) -> None:
        self._windows.clear()
