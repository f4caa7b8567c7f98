"""The live regime service (titan/runtime/regime.py) on a hand-built 1-minute history:
warm-up, closed bars only, the event on a change (and only then), gaps filled, a failed
read kept, the metrics, the minute cadence."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.events import Event
from titan.ops.metrics import Metrics
from titan.risk.regime import Regime
from titan.runtime.regime import RECENT_BARS, WARM_UP_BARS, RegimeService
from titan.venues.base import Kline, VenueError

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MIN = 60_000


class History:
    """A venue's 1-minute bars: the newest `limit`, the forming bar included (as Bybit)."""

    def __init__(self, clock: ManualClock, alpha: float, minutes: int = 1500) -> None:
        self.clock = clock
        rng = random.Random(9)
        price, self.bars = 100.0, []
        now = clock.time_ms()
        for i in range(minutes + 1):  # the last one is the bar forming now
            price *= math.exp((1 if rng.random() < 0.5 else -1)
                              * 0.001 * (1 - rng.random()) ** (-1 / alpha))
            self.bars.append(Kline(now - (minutes - i) * MIN, price, price, price, price, 1.0))
        self.asked: list[int] = []
        self.fail = False

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        assert interval_min == 1
        self.asked.append(limit)
        if self.fail:
            raise VenueError("venue unreachable")
        now = self.clock.time_ms()
        return [b for b in self.bars if b.start_ms <= now][-limit:]

    def grow(self, minutes: int, factor: float = 1.001) -> None:
        for _ in range(minutes):
            last = self.bars[-1]
            c = last.close * factor
            self.bars.append(Kline(last.start_ms + MIN, c, c, c, c, 1.0))
        self.clock.advance(minutes * 60)


async def test_warm_up_closed_bars_only_one_event_per_change() -> None:
    clock, bus = ManualClock(T0), EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    metrics = Metrics()
    service = RegimeService(bus, clock, metrics)
    venue = History(clock, alpha=1.2)
    assert service.regime("BTCUSDT") is Regime.UNKNOWN
    await service.update(venue, ["BTCUSDT"])
    assert venue.asked == [WARM_UP_BARS]  # the whole window at once, not 100 minutes later
    reading = service.reading("BTCUSDT")
    # 1,000 bars asked, the forming one left out: 999 closes, 998 returns.
    assert reading.samples == WARM_UP_BARS - 2
    assert reading.regime is Regime.CRASH and reading.alpha is not None
    [changed] = [e for e in events if e.name == "REGIME_CHANGED"]
    assert changed.data == {"symbol": "BTCUSDT", "regime": "CRASH", "previous": "UNKNOWN",
                            "alpha": reading.alpha, "exceedance": reading.exceedance,
                            "clustering": reading.clustering, "samples": reading.samples}
    assert metrics.regime_alpha.labels(symbol="BTCUSDT")._value.get() == reading.alpha
    assert metrics.regime.labels(symbol="BTCUSDT", regime="CRASH")._value.get() == 1
    assert metrics.regime.labels(symbol="BTCUSDT", regime="STABLE")._value.get() == 0

    # The next minute: the newest bars only; the same regime publishes nothing.
    venue.grow(1)
    await service.update(venue, ["BTCUSDT"])
    assert venue.asked[-1] == RECENT_BARS
    assert service.reading("BTCUSDT").samples == reading.samples + 1
    assert len([e for e in events if e.name == "REGIME_CHANGED"]) == 1
    assert service.status()["symbols"]["BTCUSDT"]["regime"] == "CRASH"


async def test_a_gap_is_filled_and_a_failed_read_keeps_the_last_reading() -> None:
    clock = ManualClock(T0)
    service = RegimeService(EventBus(), clock)
    venue = History(clock, alpha=4.0)
    await service.update(venue, ["ETHUSDT"])
    before = service.reading("ETHUSDT")
    venue.fail = True
    venue.grow(1)
    await service.update(venue, ["ETHUSDT"])  # logged, not raised
    assert service.reading("ETHUSDT") == before
    venue.fail = False
    venue.grow(9)  # ten new closed bars since the last one taken
    await service.update(venue, ["ETHUSDT"])
    assert venue.asked[-1] == 12  # the ten, the one taken last and the forming one
    # 998 + 10 returns, the window keeping its 1,000; the newest closed bar taken.
    assert service.reading("ETHUSDT").samples == 1000
    assert service.tracker.last_start("ETHUSDT") == venue.bars[-2].start_ms


def test_recomputed_1_5_s_after_each_minute() -> None:
    clock = ManualClock(T0)
    service = RegimeService(EventBus(), clock)
    assert service.next_delay_s() == 1.5
    clock.advance(1.5)
    assert service.next_delay_s() == 60.0
    clock.advance(28.5)
    assert service.next_delay_s() == 31.5
    clock.advance(31.0)  # 0.5 s before the round: at least a second
    assert service.next_delay_s() == 1.0
