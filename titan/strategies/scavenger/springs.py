"""The springing detector (SPEC §6), run on every Binance spot aggTrade.

A trade is *in band* of a trap when |price − level| ≤ 0.1 % × level. A trap springs
on the trade that makes at least 50 in-band trades within a 100 ms window, i.e. the
in-band trade whose 49th predecessor (in band of the same trap) is less than 100 ms
older: the window is (ts − 100 ms, ts], so trades 0 ms and 100 ms apart are *not* in
one window. Each trap keeps only the timestamps of its last 50 in-band trades (a
bounded deque), so the check is O(1) per nearby trap.

Per symbol the armed traps are kept sorted by level; since band edges are
proportional to the level, the lower and the upper band edges are sorted too, and a
trade finds the traps whose band holds it with one bisect and a short walk back. A
trade near no level costs one dict lookup, one bisect and one comparison.

Cooldown: a trap that springs cannot spring again for 5 minutes (by trade
timestamps; it may at ts ≥ sprung_ts + 300,000 ms). In-band trades during the
cooldown are not counted, so after it a fresh 50 are needed. Where §6 is silent:

* when a trap springs, the other armed traps of the same symbol and direction whose
  level lies within the band of the sprung level (the same level, e.g. a daily high
  and a liquidation cluster at one price) cool down with it, so one burst sends one
  entry;
* when the traps are re-armed (every minute) a trap inherits the cooldown of the
  previous trap with the same id, or of a trap sprung in the last 5 minutes in the
  same symbol and direction at the same level (within the band), whichever ends
  latest; it also keeps the in-band trades its previous self counted if its level
  moved by less than the band;
* when several traps spring on the same trade, the best-scored one is returned; the
  others spring on their next in-band trade unless they cooled down with it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable

from titan.strategies.scavenger.model import Direction, Trap

BAND_PCT = 0.1
MIN_TRADES = 50
WINDOW_MS = 100
COOLDOWN_MS = 300_000
_SLACK = 1e-12


class _Armed:
    __slots__ = ("cooldown_until", "hi", "level", "lo", "times", "tol", "trap")

    def __init__(self, trap: Trap, band: float, min_trades: int) -> None:
        self.trap = trap
        self.level = trap.level
        self.tol = trap.level * band
        # Search bounds, a hair wider than the band so float rounding never hides a trade
        # the exact test |price − level| ≤ tol would count; monotone in the level.
        self.lo = trap.level * (1.0 - band - _SLACK)
        self.hi = trap.level * (1.0 + band + _SLACK)
        self.times: deque[int] = deque(maxlen=min_trades)
        self.cooldown_until = -1


class _Book:
    """The armed traps of one symbol, sorted by level."""

    __slots__ = ("armed", "his", "los")

    def __init__(self, armed: list[_Armed]) -> None:
        armed.sort(key=lambda a: a.trap.level)
        self.armed = armed
        self.los = [a.lo for a in armed]
        self.his = [a.hi for a in armed]


class _Sprung:
    __slots__ = ("direction", "level", "until")

    def __init__(self, level: float, direction: Direction, until: int) -> None:
        self.level = level
        self.direction = direction
        self.until = until


class SpringDetector:
    """Feeds on trades, returns the trap that springs. Not thread-safe; one event loop."""

    def __init__(
        self,
        *,
        band_pct: float = BAND_PCT,
        min_trades: int = MIN_TRADES,
        window_ms: int = WINDOW_MS,
        cooldown_ms: int = COOLDOWN_MS,
    ) -> None:
        if min_trades < 1 or window_ms < 1 or band_pct <= 0:
            raise ValueError("min_trades, window_ms and band_pct must be positive")
        self._band = band_pct / 100.0
        self._n = min_trades
        self._window = window_ms
        self._cooldown = cooldown_ms
        self._books: dict[str, _Book] = {}
        self._recent: dict[str, list[_Sprung]] = {}

    # -- arming ----------------------------------------------------------------------------

    def arm(self, traps: Iterable[Trap], now_ms: int) -> None:
        """Replace the armed set, keeping cooldowns and counts of the same traps / levels."""
        previous: dict[str, _Armed] = {
            a.trap.trap_id: a for book in self._books.values() for a in book.armed
        }
        for sym, recs in list(self._recent.items()):
            kept = [r for r in recs if r.until > now_ms]
            if kept:
                self._recent[sym] = kept
            else:
                del self._recent[sym]
        by_symbol: dict[str, list[_Armed]] = {}
        for trap in traps:
            a = _Armed(trap, self._band, self._n)
            old = previous.get(trap.trap_id)
            if old is not None and old.trap.direction is trap.direction:
                if old.cooldown_until > now_ms:
                    a.cooldown_until = old.cooldown_until
                if abs(old.level - a.level) <= a.tol:
                    a.times.extend(old.times)
            tol = trap.level * self._band
            for rec in self._recent.get(trap.symbol, ()):
                if (
                    rec.direction is trap.direction
                    and abs(rec.level - trap.level) <= tol
                    and rec.until > a.cooldown_until
                ):
                    a.cooldown_until = rec.until
                    a.times.clear()
            by_symbol.setdefault(trap.symbol, []).append(a)
        self._books = {sym: _Book(armed) for sym, armed in by_symbol.items()}

    def retune(self, *, band_pct: float, min_trades: int, window_ms: int,
               cooldown_ms: int) -> None:
        """New detection parameters (a config version); the traps armed next use them."""
        if min_trades < 1 or window_ms < 1 or band_pct <= 0:
            raise ValueError("min_trades, window_ms and band_pct must be positive")
        self._band = band_pct / 100.0
        self._n = min_trades
        self._window = window_ms
        self._cooldown = cooldown_ms

    def remember(self, symbol: str, level: float, direction: Direction, sprung_ms: int) -> None:
        """A spring from before a restart: its level stays quiet until its cooldown ends."""
        recs = self._recent.setdefault(symbol, [])
        recs.append(_Sprung(level, direction, sprung_ms + self._cooldown))

    def disarm_all(self) -> None:
        """Drop every armed trap (cooldowns of recent springs are remembered)."""
        self._books = {}

    def armed(self, symbol: str | None = None) -> list[Trap]:
        if symbol is None:
            books = list(self._books.values())
        else:
            book = self._books.get(symbol)
            books = [book] if book is not None else []
        return [a.trap for book in books for a in book.armed]

    def cooldown_until(self, trap_id: str) -> int | None:
        """When the armed trap may spring again (ms); None if it has not sprung since it
        was armed (or re-armed after its cooldown ended)."""
        for book in self._books.values():
            for a in book.armed:
                if a.trap.trap_id == trap_id:
                    return a.cooldown_until if a.cooldown_until >= 0 else None
        return None

    # -- the hot path ----------------------------------------------------------------------

    def on_trade(self, symbol: str, price: float, ts_ms: int) -> Trap | None:
        book = self._books.get(symbol)
        if book is None:
            return None
        i = bisect_right(book.los, price)
        if i == 0:
            return None
        his = book.his
        j = i - 1
        if his[j] < price:
            return None
        armed = book.armed
        n = self._n
        window = self._window
        best: _Armed | None = None
        while j >= 0 and his[j] >= price:
            a = armed[j]
            if ts_ms >= a.cooldown_until and abs(price - a.level) <= a.tol:
                times = a.times
                times.append(ts_ms)
                if (
                    len(times) == n
                    and ts_ms - times[0] < window
                    and (best is None or a.trap.score > best.trap.score)
                ):
                    best = a
            j -= 1
        if best is None:
            return None
        self._spring(symbol, book, best, ts_ms)
        return best.trap

    def _spring(self, symbol: str, book: _Book, sprung: _Armed, ts_ms: int) -> None:
        until = ts_ms + self._cooldown
        level = sprung.trap.level
        direction = sprung.trap.direction
        tol = level * self._band
        for a in book.armed:
            if a is sprung or (a.trap.direction is direction and abs(a.trap.level - level) <= tol):
                a.cooldown_until = until
                a.times.clear()
        recs = [r for r in self._recent.get(symbol, ()) if r.until > ts_ms]
        recs.append(_Sprung(level, direction, until))
        self._recent[symbol] = recs
