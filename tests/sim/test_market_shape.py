"""The generated market has the shape real crypto has on 1-minute returns: a power-law
tail (Hill index 2–4, not Gaussian) and volatility clustering (|returns| autocorrelated,
returns themselves not), measured on the simulator's own 1-minute klines."""

from __future__ import annotations

import itertools
import math

import pytest

from titan.sim.config import SimConfig
from titan.sim.market import Market

BARS = 6000  # about four days of 1-minute bars
NOW_MS = 1_767_225_600_000  # any minute boundary: the bars' values do not depend on it


def returns(seed: int, symbol: str) -> list[float]:
    market = Market(SimConfig(seed=seed, symbols=(symbol,), backfill_minutes=BARS),
                    lambda: NOW_MS)
    market.backfill()
    closes = [float(k.close) for k in market.klines(symbol, "1", limit=BARS)]
    assert len(closes) == BARS
    return [math.log(b / a) for a, b in itertools.pairwise(closes)]


def hill(xs: list[float], tail: float = 0.025) -> float:
    """Hill estimator of the tail index from the largest `tail` share of |x|."""
    a = sorted((abs(x) for x in xs), reverse=True)
    k = int(len(a) * tail)
    return k / sum(math.log(a[i] / a[k]) for i in range(k))


def acf(xs: list[float], lag: int) -> float:
    mu = sum(xs) / len(xs)
    var = sum((x - mu) ** 2 for x in xs)
    return sum((xs[i] - mu) * (xs[i + lag] - mu) for i in range(len(xs) - lag)) / var


@pytest.mark.parametrize(("seed", "symbol"), [(7, "BTCUSDT"), (42, "ETHUSDT"), (1, "SOLUSDT")])
def test_one_minute_returns_have_fat_tails_and_clustered_volatility(seed: int,
                                                                    symbol: str) -> None:
    r = returns(seed, symbol)
    index = hill(r)
    assert 2.0 <= index <= 4.0, f"Hill tail index {index:.2f}"
    # Far from Gaussian: normal returns have an excess kurtosis of ~0.
    mu = sum(r) / len(r)
    m2 = sum((x - mu) ** 2 for x in r) / len(r)
    kurt = sum((x - mu) ** 4 for x in r) / len(r) / m2 ** 2 - 3
    assert kurt > 3, f"excess kurtosis {kurt:.1f}"
    absolute = [abs(x) for x in r]
    for lag in range(1, 6):
        assert acf(absolute, lag) > 0.1, f"|r| autocorrelation at lag {lag}"
        assert abs(acf(r, lag)) < 0.08, f"r autocorrelation at lag {lag}"


def test_the_shape_is_seeded() -> None:
    assert returns(7, "BTCUSDT") == returns(7, "BTCUSDT")
    assert returns(7, "BTCUSDT") != returns(8, "BTCUSDT")
