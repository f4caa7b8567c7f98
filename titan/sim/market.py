"""The seeded market generator: price paths, trades, level bursts and 1-minute klines.

Determinism: each symbol has its own `random.Random` seeded from (seed, symbol), and
every draw happens in a fixed order per backfilled minute and per live step, so the
same seed gives the same klines and the same sequence of generated trades (only their
wall-clock timestamps differ between runs).

Regimes (calm / trending / volatile) switch as a Markov chain and set the level a
stochastic volatility reverts to; Pareto-sized jumps give 1-minute returns a power-law
tail. Liquidity sweeps run through levels a trader would watch (the previous UTC day's
high/low, the last hour's high/low, round numbers) as 55–120 trades within a few
milliseconds walking the book, so a trap watcher (≥ 50 trades within 0.1 % in 100 ms)
sees them spring within minutes.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from titan.sim import history
from titan.sim.config import INSTRUMENTS, InstrumentSpec, SimConfig

MINUTE_MS = 60_000
TURNOVER_Q = Decimal("0.0001")
DAY_MS = 86_400_000

# (drift per second, volatility level per sqrt(second), trades per second). The trend's
# drift is small against the noise, as in real markets: a minute's return barely predicts
# the next one (raw-return autocorrelation near zero).
REGIMES: dict[str, tuple[float, float, float]] = {
    "calm": (0.0, 0.00008, 3.0),
    "trending": (0.000003, 0.00012, 6.0),
    "volatile": (0.0, 0.0003, 15.0),
}
REGIME_NAMES = tuple(REGIMES)
# Mean regime duration: about 20 minutes.
SWITCH_PER_SECOND = 1.0 / 1200.0
# Stochastic volatility: log-volatility reverts to its regime's level with a half-life
# of ~20 minutes and is shocked continuously, so calm and wild stretches cluster
# (|returns| autocorrelated over many minutes, as in real crypto).
VOL_REVERT_PER_SECOND = math.log(2) / 1200.0
VOL_OF_VOL = 0.015  # per sqrt(second): stationary log-vol sd ~ 0.015 / sqrt(2 * revert) ~ 0.5
# Jumps: Poisson arrivals (one per ~5 minutes), Pareto-sized with tail index 3 in units of
# the current 1-minute volatility. They give 1-minute returns the power-law tail real
# crypto shows (Hill index ~3) whatever the step size.
JUMPS_PER_SECOND = 1.0 / 300.0
JUMP_ALPHA = 3.0
JUMP_SCALE = 0.8
JUMP_CAP = 40.0  # in 1-minute volatilities: a single draw never runs the path away

INTERVAL_MINUTES: dict[str, int] = {
    "1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240,
    "360": 360, "720": 720, "D": 1440,
}


@dataclass(slots=True)
class Trade:
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool  # True: the seller was the taker ("Sell" on Bybit)
    time_ms: int


@dataclass(slots=True)
class Kline:
    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal

    def add(self, price: Decimal, qty: Decimal) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.turnover += price * qty


_BACKFILL_CACHE: dict[tuple[float, str, int], tuple[
    list[tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]],
    tuple[object, ...], float, str, float, float]] = {}

TradeListener = Callable[[str, list[Trade]], None]


class SymbolMarket:
    """One symbol's generated path and its 1-minute kline history."""

    def __init__(self, spec: InstrumentSpec, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.rng = random.Random(f"{seed}/{spec.symbol}")
        self._deep: list[Kline] | None = None
        self.regime = "calm"
        self.trend_sign = 1.0
        self.path = float(spec.start_price)  # continuous path; trades are on the tick grid
        self.log_vol = math.log(REGIMES["calm"][1])
        self.last = spec.start_price
        self.klines: list[Kline] = []
        self.next_trade_id = 1
        self._tick_f = float(spec.tick_size)

    def quantize(self, price: float | Decimal) -> Decimal:
        tick = self.spec.tick_size
        if isinstance(price, float):
            # Integer tick counts keep this exact and fast (backfill calls it ~10^5 times).
            return tick * max(1, round(price / self._tick_f))
        # tick * int keeps the tick's exponent, so str() shows the venue's decimals.
        return tick * max(1, int((price / tick).to_integral_value(rounding=ROUND_HALF_UP)))

    def random_qty(self) -> Decimal:
        return self.spec.min_qty * self.rng.randint(1, 40)

    def _switch_regime(self, dt: float) -> None:
        if self.rng.random() < SWITCH_PER_SECOND * dt:
            self.regime = self.rng.choice(REGIME_NAMES)
            self.trend_sign = self.rng.choice((-1.0, 1.0))

    def _move(self, dt: float) -> float:
        """Advance the path by `dt` seconds. The draws happen in a fixed order (vol shock,
        return, jump test, then sign and size only on a jump): same seed, same path."""
        drift, level, _ = REGIMES[self.regime]
        rng = self.rng
        self.log_vol += ((math.log(level) - self.log_vol) * min(1.0, VOL_REVERT_PER_SECOND * dt)
                         + VOL_OF_VOL * math.sqrt(dt) * rng.gauss(0, 1))
        vol = math.exp(self.log_vol)
        r = drift * self.trend_sign * dt + vol * math.sqrt(dt) * rng.gauss(0, 1)
        if rng.random() < JUMPS_PER_SECOND * dt:
            sign = 1.0 if rng.random() < 0.5 else -1.0
            size = min(JUMP_CAP, JUMP_SCALE * (1.0 - rng.random()) ** (-1.0 / JUMP_ALPHA))
            r += sign * size * vol * math.sqrt(60.0)
        self.path *= math.exp(r)
        return self.path

    def backfill(self, minutes: int, end_ms: int) -> None:
        """Synthesise `minutes` closed 1-minute bars ending at `end_ms` (a minute boundary).

        The bars' values depend only on (seed, symbol, minutes); only their timestamps
        follow the clock. Memoised per process: tests start many simulators."""
        self._deep = None
        ck = (self.rng.random(), self.spec.symbol, minutes)
        self.rng.seed(f"{ck[0]}")  # derive the backfill stream from the symbol's seed
        start = end_ms - minutes * MINUTE_MS
        hit = _BACKFILL_CACHE.get(ck)
        if hit is not None:
            # Same bars, re-stamped to end at this minute.
            bars, state, self.path, self.regime, self.trend_sign, self.log_vol = hit
            self.rng.setstate(state)
            self.klines = [Kline(start + i * MINUTE_MS, *b) for i, b in enumerate(bars)]
            self.last = self.klines[-1].close if self.klines else self.last
            return
        self._backfill(minutes, end_ms)
        _BACKFILL_CACHE[ck] = ([(k.open, k.high, k.low, k.close, k.volume, k.turnover)
                                for k in self.klines], self.rng.getstate(),
                               self.path, self.regime, self.trend_sign, self.log_vol)

    def _backfill(self, minutes: int, end_ms: int) -> None:
        start = end_ms - minutes * MINUTE_MS
        for i in range(minutes):
            self._switch_regime(60.0)
            o = self.quantize(self.path)
            pts = [o]
            for _ in range(4):
                pts.append(self.quantize(self._move(15.0)))
            c = pts[-1]
            rate = REGIMES[self.regime][2]
            vol = self.spec.min_qty * int(rate * 60 * self.rng.uniform(5, 25))
            hi, lo = max(pts), min(pts)
            self.klines.append(Kline(start + i * MINUTE_MS, o, hi, lo, c, vol,
                                     (vol * (hi + lo) / 2).quantize(TURNOVER_Q)))
        if self.klines:
            self.last = self.klines[-1].close

    def deep_history(self) -> list[Kline]:
        """15-minute bars before the first 1-minute bar, built on first use."""
        if self._deep is None:
            if not self.klines:
                return []
            first = self.klines[0]
            self._deep = [Kline(*b) for b in history.generate(
                self.seed, self.spec, first.start_ms, first.open)]
        return self._deep

    def fill_to(self, now_ms: int) -> None:
        """Flat bars at the last close for every minute up to the one holding `now_ms`.

        Bybit always serves the current bar, traded in or not; without this a request
        made just after a minute boundary, before that minute's first trade, would miss
        the newest bar of every interval."""
        bars = self.klines
        if not bars:
            return
        start = now_ms - now_ms % MINUTE_MS
        close = bars[-1].close
        t = bars[-1].start_ms + MINUTE_MS
        while t <= start:
            bars.append(Kline(t, close, close, close, close, Decimal(0), Decimal(0)))
            t += MINUTE_MS

    def record(self, trade: Trade) -> None:
        start = trade.time_ms - trade.time_ms % MINUTE_MS
        bars = self.klines
        if bars and bars[-1].start_ms >= start:
            bars[-1].add(trade.price, trade.qty)
        elif bars:
            # Quiet minutes still get flat bars so the history has no holes.
            self.fill_to(start)
            bars[-1].add(trade.price, trade.qty)
        else:
            k = Kline(start, trade.price, trade.price, trade.price, trade.price,
                      Decimal(0), Decimal(0))
            k.add(trade.price, trade.qty)
            bars.append(k)
        self.last = trade.price

    def levels(self, now_ms: int) -> list[Decimal]:
        """Levels traders (and Titan's tripwires) watch: the previous UTC day's high and
        low, the last hour's high and low, the 20-bar Bollinger bands, the 24 h volume
        profile peak, and the nearest round number (always last)."""
        out: list[Decimal] = []
        day_start = now_ms - now_ms % DAY_MS
        prev = [k for k in self.klines[-2 * 1440 - 60:] if day_start - DAY_MS <= k.start_ms < day_start]
        if prev:
            out += [max(k.high for k in prev), min(k.low for k in prev)]
        hour = self.klines[-60:]
        if hour:
            out += [max(k.high for k in hour), min(k.low for k in hour)]
        closes = [float(k.close) for k in self.klines[-20:]]
        if len(closes) == 20:
            mean = sum(closes) / 20
            sd = math.sqrt(sum((c - mean) ** 2 for c in closes) / 20)
            out += [self.quantize(mean + 2 * sd), self.quantize(mean - 2 * sd)]
        day = self.klines[-1440:]
        if day:
            lo, hi = float(min(k.low for k in day)), float(max(k.high for k in day))
            if hi > lo:
                bins = [0.0] * 50
                for k in day:
                    i = min(49, int((float(k.close) - lo) / (hi - lo) * 50))
                    bins[i] += float(k.volume)
                peak = max(range(50), key=bins.__getitem__)
                out.append(self.quantize(lo + (peak + 0.5) * (hi - lo) / 50))
        p = float(self.last)
        step = 10 ** (math.floor(math.log10(p)) - 2) * 5
        out.append(self.quantize(round(p / step) * step))
        return out


class Market:
    """All symbols' generators plus the fan-out of trades to listeners."""

    def __init__(self, config: SimConfig, now_ms: Callable[[], int]) -> None:
        self.config = config
        self.now_ms = now_ms
        self.symbols: dict[str, SymbolMarket] = {
            s: SymbolMarket(INSTRUMENTS[s], config.seed) for s in config.symbols}
        self._listeners: list[TradeListener] = []

    def add_listener(self, fn: TradeListener) -> None:
        """`fn(symbol, trades)` is called synchronously for every emitted batch."""
        self._listeners.append(fn)

    def backfill(self) -> None:
        now = self.now_ms()
        end = now - now % MINUTE_MS
        for m in self.symbols.values():
            m.backfill(self.config.backfill_minutes, end)

    def last(self, symbol: str) -> Decimal:
        return self.symbols[symbol].last

    # ---- emission -------------------------------------------------------------------

    def _publish(self, symbol: str, trades: list[Trade]) -> None:
        m = self.symbols[symbol]
        for t in trades:
            m.record(t)
        for fn in self._listeners:
            fn(symbol, trades)

    def make_trade(self, symbol: str, price: Decimal, qty: Decimal | None = None,
                   buyer_maker: bool | None = None, time_ms: int | None = None,
                   *, on_tick: bool = False) -> Trade:
        """A new trade with the symbol's next id; `on_tick=True` skips re-quantizing a
        price already on the tick grid (the hot path of benchmark feeds)."""
        m = self.symbols[symbol]
        tid = m.next_trade_id
        m.next_trade_id += 1
        rnd = m.rng.random()
        if qty is None:
            qty = m.spec.min_qty * (1 + int(rnd * 40))
        return Trade(symbol, tid, price if on_tick else m.quantize(price), qty,
                     (rnd * 80) % 2 >= 1 if buyer_maker is None else buyer_maker,
                     time_ms if time_ms is not None else self.now_ms())

    def set_price(self, symbol: str, price: Decimal | float | str) -> Trade:
        """Move the market to `price` by printing one minimum-size trade there."""
        m = self.symbols[symbol]
        p = m.quantize(Decimal(str(price)))
        m.path = float(p)
        t = self.make_trade(symbol, p, qty=m.spec.min_qty)
        self._publish(symbol, [t])
        return t

    def emit_trades(self, symbol: str, price: Decimal | float | str, count: int,
                    spread_ms: float = 50.0, band: float = 0.0003) -> list[Trade]:
        """Force a burst: `count` trades within ±`band` (fraction) of `price`, their trade
        times spread over `spread_ms`. The batch is sent at once."""
        m = self.symbols[symbol]
        centre = float(Decimal(str(price)))
        now = self.now_ms()
        trades = []
        for i in range(count):
            px = m.quantize(centre * (1 + m.rng.uniform(-band, band)))
            trades.append(self.make_trade(symbol, px, time_ms=now + int(i * spread_ms / max(count, 1)),
                                          on_tick=True))
        m.path = float(trades[-1].price)
        self._publish(symbol, trades)
        return trades

    def step(self, dt: float) -> int:
        """Advance every symbol by `dt` seconds of generated market; returns trades sent."""
        sent = 0
        now = self.now_ms()
        for sym, m in self.symbols.items():
            m._switch_regime(dt)
            if m.rng.random() < self.config.bursts_per_minute / 60.0 * dt:
                sent += self._level_burst(sym, m, now)
                continue
            p = m._move(dt)
            rate = REGIMES[m.regime][2]
            n = int(rate * dt + m.rng.random())
            if n == 0:
                continue
            trades = [self.make_trade(sym, m.quantize(p * (1 + m.rng.uniform(-5e-5, 5e-5))),
                                      time_ms=now, on_tick=True) for _ in range(n)]
            self._publish(sym, trades)
            sent += n
        return sent

    def sweep(self, symbol: str, level: Decimal | float | str, count: int,
              direction: int, *, span: float = 0.0006, duration_ms: int = 4) -> list[Trade]:
        """A liquidity sweep through `level`, printed the way real ones print: a few
        aggressive orders, each walking the book — several fills at one millisecond,
        every fill one or more ticks further in `direction` (+1 up, -1 down) — all
        `count` trades within `duration_ms` + 1 ms, spanning `span` (fraction) centred
        on the level. The batch is sent at once."""
        m = self.symbols[symbol]
        centre = float(Decimal(str(level)))
        start = centre * (1 - direction * span / 2)
        step = centre * span / max(count - 1, 1)
        now = self.now_ms()
        # Split the sweep into orders of 4–12 fills; order j lands at ms j*duration/orders.
        sizes: list[int] = []
        while sum(sizes) < count:
            sizes.append(min(m.rng.randint(4, 12), count - sum(sizes)))
        trades: list[Trade] = []
        i = 0
        for j, n in enumerate(sizes):
            t_ms = now + j * duration_ms // max(len(sizes) - 1, 1)
            for _ in range(n):
                # On a coarse tick several fills share a level, as resting orders do.
                px = m.quantize(start + direction * i * step)
                trades.append(self.make_trade(symbol, px, buyer_maker=direction < 0,
                                              time_ms=t_ms, on_tick=True))
                i += 1
        m.path = float(trades[-1].price)
        self._publish(symbol, trades)
        return trades

    def _level_burst(self, sym: str, m: SymbolMarket, now: int) -> int:
        """Sweep the watched level nearest the price, from the side the price is on."""
        levels = m.levels(now)
        last = float(m.last)
        near = [lv for lv in levels if abs(float(lv) / last - 1) < 0.005] or levels[-1:]
        level = min(near, key=lambda lv: abs(float(lv) - last))
        count = m.rng.randint(55, 120)
        direction = 1 if float(level) >= last else -1
        self.sweep(sym, level, count, direction, duration_ms=m.rng.randint(2, 4))
        # After the sweep the path breaks through or rejects the level.
        m.path = float(level) * (1 + m.rng.choice((-1, 1)) * m.rng.uniform(0.0005, 0.002))
        return count

    # ---- history --------------------------------------------------------------------

    def klines(self, symbol: str, interval: str = "1", start: int | None = None,
               end: int | None = None, limit: int = 200) -> list[Kline]:
        """Bars oldest → newest, as Bybit selects them: with `start`, the first `limit`
        bars from the one containing `start` on; otherwise the newest `limit` bars; bars
        starting after `end` are left out either way.

        Intervals of 15 minutes and more reach back months (generated 15-minute history,
        see `titan.sim.history`); shorter ones cover the 1-minute bars only."""
        minutes = INTERVAL_MINUTES[interval]
        size = minutes * MINUTE_MS
        m = self.symbols[symbol]
        m.fill_to(self.now_ms())
        bars = m.klines
        if start is not None:
            lo = start - start % size
            hi = lo + (limit - 1) * size
            if end is not None:
                hi = min(hi, end)
        else:
            top = bars[-1].start_ms if bars else self.now_ms()
            hi = top if end is None else min(end, top)
            lo = hi - hi % size - (limit - 1) * size
        if hi < lo:
            return []
        stop = hi - hi % size + size  # end of the last wanted bucket
        window: list[Kline] = []
        if minutes >= 15 and bars and lo < bars[0].start_ms:
            deep = m.deep_history()
            window += deep[bisect.bisect_left(deep, lo, key=_start):
                           bisect.bisect_left(deep, stop, key=_start)]
        window += bars[bisect.bisect_left(bars, lo, key=_start):
                       bisect.bisect_left(bars, stop, key=_start)]
        agg: list[Kline] = []
        for k in window:
            b = k.start_ms - k.start_ms % size
            if agg and agg[-1].start_ms == b:
                a = agg[-1]
                a.high = max(a.high, k.high)
                a.low = min(a.low, k.low)
                a.close = k.close
                a.volume += k.volume
                a.turnover += k.turnover
            else:
                agg.append(Kline(b, k.open, k.high, k.low, k.close, k.volume, k.turnover))
        return agg[:limit] if start is not None else agg[-limit:]

    def stats_24h(self, symbol: str) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(prevPrice24h, high, low, volume, turnover) over the last 1440 bars."""
        bars = self.symbols[symbol].klines[-1440:]
        if not bars:
            last = self.symbols[symbol].last
            return last, last, last, Decimal(0), Decimal(0)
        return (bars[0].open, max(k.high for k in bars), min(k.low for k in bars),
                sum((k.volume for k in bars), Decimal(0)),
                sum((k.turnover for k in bars), Decimal(0)))


def _start(k: Kline) -> int:
    return k.start_ms
