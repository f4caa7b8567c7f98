import pytest

from titan.clock import ManualClock
from titan.venues.base import RateLimitedError
from titan.venues.ratelimit import RateLimiter


def limiter(clock: ManualClock, **kw: float) -> RateLimiter:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    opts = {
        "rate_per_s": 10.0,
        "burst": 5.0,
        "backoff_base": 0.5,
        "backoff_max": 8.0,
        "max_wait": 5.0,
    }
    opts.update(kw)
    return RateLimiter("test", clock, sleep=sleep, **opts)


def test_bucket_allows_burst_then_refills() -> None:
    clock = ManualClock()
    rl = limiter(clock)
    assert all(rl.try_acquire() for _ in range(5))
    assert not rl.try_acquire()
    clock.advance(0.1)
    assert rl.try_acquire()
    assert not rl.try_acquire()
    clock.advance(10)
    assert rl.snapshot().tokens == 5


async def test_acquire_waits_on_the_injected_clock() -> None:
    clock = ManualClock()
    rl = limiter(clock)
    for _ in range(5):
        await rl.acquire()
    t0 = clock.monotonic()
    await rl.acquire()
    assert clock.monotonic() - t0 == pytest.approx(0.1)


def test_backoff_is_exponential_and_capped() -> None:
    clock = ManualClock()
    rl = limiter(clock)
    delays = [rl.on_rate_limited() for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert rl.consecutive_limits == 6
    rl.on_success()
    assert rl.consecutive_limits == 0
    assert rl.on_rate_limited() == 0.5


async def test_backoff_blocks_then_recovers() -> None:
    clock = ManualClock()
    rl = limiter(clock)
    rl.on_rate_limited()
    rl.on_rate_limited()  # 1 s
    assert not rl.try_acquire()
    assert rl.backoff_remaining() == pytest.approx(1.0)
    t0 = clock.monotonic()
    await rl.acquire()
    assert clock.monotonic() - t0 >= 1.0
    rl.on_success()
    assert rl.consecutive_limits == 0


async def test_acquire_refuses_beyond_max_wait() -> None:
    clock = ManualClock()
    rl = limiter(clock, max_wait=0.5)
    for _ in range(4):
        rl.on_rate_limited()  # 4 s backoff
    with pytest.raises(RateLimitedError) as ei:
        await rl.acquire()
    assert ei.value.code == "LOCAL_RATE_LIMIT"
    clock.advance(4)
    await rl.acquire()


def test_retry_after_from_venue_is_honoured() -> None:
    clock = ManualClock()
    rl = limiter(clock)
    assert rl.on_rate_limited(retry_after_s=3.0) == 3.0
    assert rl.backoff_remaining() == pytest.approx(3.0)


def test_bad_config() -> None:
    with pytest.raises(ValueError):
        RateLimiter("x", ManualClock(), rate_per_s=0, burst=1)
