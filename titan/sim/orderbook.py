"""L2 order books of the simulated venue: seeded depth around the last trade.

Each book is rebuilt around the last traded price: the trade printed on the touch it hit
(a taker buy leaves the best ask at the trade price, a taker sell the best bid), so the
touch and the tape always agree and best bid < best ask by one tick — the spread Bybit
shows on its liquid perpetuals. Level sizes are a pure function of (seed, symbol,
price), so the same seed gives the same depth at the same prices; liquidity an order
takes stays taken until the next trade moves the book.

Bybit-like bookkeeping: `u` (update id) rises by one per change of the book, `seq` by one
per change of any book (the cross sequence); a subscriber gets a snapshot, then deltas
carrying only the levels that changed (size "0" = level removed).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from decimal import ROUND_FLOOR, Decimal

from titan.sim.config import InstrumentSpec

ZERO = Decimal(0)
DEPTH = 200  # levels per side the simulator keeps (Bybit linear serves up to 500)
SCAN = DEPTH + DEPTH // 4  # price steps looked at per side (some levels are empty)
# Notional of a level near the touch, in quote currency; deeper levels hold more.
TOUCH_NOTIONAL = Decimal(40_000)

Level = tuple[Decimal, Decimal]  # (price, size)
BookListener = Callable[["Book"], None]

_cross_seq = itertools.count(5_000_000_001)


def _unit(seed: int, symbol: str, ticks: int) -> float:
    """A stable uniform [0, 1) for one price level (cheap: blake2b of the level key)."""
    h = hashlib.blake2b(f"{seed}:{symbol}:{ticks}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


class Book:
    """One symbol's book. Prices on the instrument's tick grid, sizes on its qty step."""

    def __init__(self, spec: InstrumentSpec, seed: int, last: Decimal, salt: str = "") -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self._key = spec.symbol + salt  # spot and linear books of one coin differ
        self.seed = seed
        self.u = 0
        self.seq = 0
        self.ts = 0
        self.last = last
        self.taker_buy = True  # side of the trade that set `last`
        # Generated levels per side (True = asks) and how far each side's scan has got.
        self._levels: dict[bool, list[Level]] = {True: [], False: []}
        self._scan = {True: 0, False: 0}
        self._taken: dict[Decimal, Decimal] = {}  # price → size taken since the move

    # ---- building -------------------------------------------------------------------

    def move(self, last: Decimal, taker_buy: bool, ts: int) -> None:
        """A trade printed: recentre lazily (the levels are built when first read)."""
        if last == self.last and taker_buy == self.taker_buy and not self._taken:
            return
        self.last = last
        self.taker_buy = taker_buy
        self._taken.clear()
        self._levels = {True: [], False: []}
        self._scan = {True: 0, False: 0}
        self._bump(ts)

    def _bump(self, ts: int) -> None:
        self.u += 1
        self.seq = next(_cross_seq)
        self.ts = ts

    def _size(self, price: Decimal, depth_index: int) -> Decimal:
        spec = self.spec
        ticks = int(price / spec.tick_size)
        r = _unit(self.seed, self._key, ticks)
        if depth_index > 4 and r < 0.15:
            return ZERO  # an empty price level: real books have gaps away from the touch
        notional = TOUCH_NOTIONAL * Decimal(1 + depth_index // 10) * Decimal(str(0.2 + 1.6 * r))
        qty = (notional / price / spec.qty_step).to_integral_value(ROUND_FLOOR) * spec.qty_step
        return max(qty, spec.min_qty)

    def _extend(self, asks: bool) -> bool:
        """Generate the next non-empty level of one side (levels are made only as deep
        as someone reads: an order usually needs one). False when the side is full."""
        levels = self._levels[asks]
        if len(levels) >= DEPTH:
            return False
        tick = self.spec.tick_size
        best_ask = self.last if self.taker_buy else self.last + tick
        while self._scan[asks] < SCAN:
            i = self._scan[asks]
            self._scan[asks] = i + 1
            p = best_ask + tick * i if asks else best_ask - tick * (i + 1)
            if p <= 0:
                return False
            size = self._size(p, i)
            if size > 0 or i == 0:
                levels.append((p, size or self.spec.min_qty))
                return True
        return False

    # ---- reading --------------------------------------------------------------------

    def _iter(self, asks: bool) -> Iterator[Level]:
        """One side's levels, best first, net of the liquidity taken since the move."""
        levels = self._levels[asks]
        i = 0
        while True:
            if i >= len(levels) and not self._extend(asks):
                return
            p, size = levels[i]
            i += 1
            left = size - self._taken.get(p, ZERO) if self._taken else size
            if left > 0:
                yield p, left

    def _side(self, asks: bool, depth: int = DEPTH) -> list[Level]:
        return list(itertools.islice(self._iter(asks), depth))

    def bids(self, depth: int = DEPTH) -> list[Level]:
        return self._side(False, depth)

    def asks(self, depth: int = DEPTH) -> list[Level]:
        return self._side(True, depth)

    def best(self) -> tuple[Level, Level]:
        """(best bid, best ask); a side emptied by takers shows its price with size 0."""
        bids, asks = self.bids(1), self.asks(1)
        tick = self.spec.tick_size
        ask = asks[0] if asks else (self.last if self.taker_buy else self.last + tick, ZERO)
        bid = bids[0] if bids else (ask[0] - tick, ZERO)
        return bid, ask

    # ---- taking ---------------------------------------------------------------------

    def plan(self, side: str, qty: Decimal | None, limit: Decimal | None,
             quote: Decimal | None = None) -> list[Level]:
        """The (price, qty) fills a taker `side` order would get, walking levels up to
        `limit` (None = no limit) for `qty` base (or `quote` value); nothing is taken."""
        levels = self._iter(side == "Buy")  # a buy takes the asks
        fills: list[Level] = []
        left_qty = qty
        left_quote = quote
        step = self.spec.qty_step
        for p, s in levels:
            if limit is not None and (p > limit if side == "Buy" else p < limit):
                break
            if left_quote is not None:
                want = (left_quote / p / step).to_integral_value(ROUND_FLOOR) * step
            else:
                assert left_qty is not None
                want = left_qty
            take = min(s, want)
            if take <= 0:
                break
            fills.append((p, take))
            if left_quote is not None:
                left_quote -= take * p
            else:
                assert left_qty is not None
                left_qty -= take
                if left_qty <= 0:
                    break
        return fills

    def take(self, fills: list[Level], ts: int) -> None:
        """Remove liquidity an order took (the level shrinks or disappears)."""
        if not fills:
            return
        for p, q in fills:
            self._taken[p] = self._taken.get(p, ZERO) + q
        self._bump(ts)


class Books:
    """Every book of one market family (linear or spot), with change listeners."""

    def __init__(self, specs: dict[str, InstrumentSpec], seed: int,
                 last: dict[str, Decimal], salt: str = "") -> None:
        self.books = {s: Book(sp, seed, last[s], salt) for s, sp in specs.items()}
        self._listeners: list[BookListener] = []

    def add_listener(self, fn: BookListener) -> None:
        self._listeners.append(fn)

    def __getitem__(self, symbol: str) -> Book:
        return self.books[symbol]

    def changed(self, book: Book) -> None:
        for fn in self._listeners:
            fn(book)
