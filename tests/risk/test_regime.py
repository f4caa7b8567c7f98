"""The tail-risk regime estimator (STRATEGIES.md "Regime", SPEC §17): pinned at its edges."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from titan.risk.regime import (
    UNKNOWN_READING,
    Clustering,
    Regime,
    RegimeReading,
    RegimeTracker,
    classify,
    clustering,
    clustering_kind,
    exceedance,
    hill_alpha,
    read,
    size_scale,
    tail_veto,
)


def pareto_returns(alpha: float, n: int, seed: int) -> list[float]:
    """|r| ~ Pareto(α, x_min = 0.001) by inversion, random signs: the tail index is α."""
    rng = random.Random(seed)
    return [(1 if rng.random() < 0.5 else -1) * 0.001 * (1.0 - rng.random()) ** (-1.0 / alpha)
            for _ in range(n)]


# -- the Hill estimator ---------------------------------------------------------------------

# With k = 5 % of 20,000 = 1,000 tail points the Hill estimator's standard error is
# α / √k: 0.095 at α = 3 and 0.047 at α = 1.5. The tolerance is about 3 standard errors.
@pytest.mark.parametrize(("alpha", "tolerance"), [(3.0, 0.3), (1.5, 0.15)])
@pytest.mark.parametrize("seed", [1, 2])
def test_hill_on_pareto_draws_recovers_the_tail_index(alpha: float, tolerance: float,
                                                      seed: int) -> None:
    estimate = hill_alpha(pareto_returns(alpha, 20_000, seed))
    assert estimate is not None
    assert abs(estimate - alpha) <= tolerance, estimate


def test_hill_tells_a_fat_tail_from_a_thin_one() -> None:
    fat = hill_alpha(pareto_returns(1.5, 20_000, 3))
    thin = hill_alpha(pareto_returns(3.0, 20_000, 3))
    assert fat is not None and thin is not None and fat < 2.0 < thin


def test_hill_by_hand() -> None:
    # 100 magnitudes: k = 5; the top 5 are e^a × the threshold 0.001 (x_(k+1)), a = 1, 1, 1, 1, 1
    # → Σ ln(x_i / x_(k+1)) = 5 → α = 5 / 5 = 1. Signs do not matter (|r|).
    rs = [0.001 * (-1) ** i for i in range(95)] + [-0.001 * math.e] * 5
    assert hill_alpha(rs) == pytest.approx(1.0, rel=1e-12)
    # Only the top k count: making a sub-threshold value smaller changes nothing.
    assert hill_alpha([*rs[:-6], 0.0001, *rs[-5:]]) == pytest.approx(1.0, rel=1e-12)


def test_hill_small_window_uses_one_tail_point() -> None:
    # 30 values: 5 % is 1.5 → k = 1: α = 1 / ln(x_1 / x_2) = 1 / ln 3 (k = 2 would give
    # 2 / (ln 9 + ln 3) = 2 / (3 ln 3)).
    rs = [0.001] * 28 + [0.003, -0.009]
    assert hill_alpha(rs) == pytest.approx(1 / math.log(3), rel=1e-12)
    # A share of 10 % of the same 30: k = 3, threshold 0.001 → α = 3 / (ln 9 + ln 3 + 0).
    assert hill_alpha(rs, tail_share=0.1) == pytest.approx(3 / math.log(27), rel=1e-12)
    # Fewer than 20 values: 5 % rounds to 0, and k is still 1.
    assert hill_alpha([0.001] * 8 + [0.003, -0.009]) == pytest.approx(1 / math.log(3), rel=1e-12)


@pytest.mark.parametrize("rs", [[], [0.01], [0.0] * 200, [0.01] * 200, [0.0] * 190 + [0.5] * 10])
def test_hill_undefined(rs: list[float]) -> None:
    """No tail to measure: too few values, a zero threshold, or a top equal to its threshold."""
    assert hill_alpha(rs) is None


# -- exceedance and clustering --------------------------------------------------------------

def test_exceedance_by_hand() -> None:
    # 98 zeros and ±1: mean 0, σ = √(2/100) = 0.141; 2.5 σ = 0.354 → the two ±1 exceed.
    assert exceedance([0.0] * 98 + [1.0, -1.0]) == pytest.approx(0.02)
    # ±a alternating: σ = a, nothing is beyond 2.5 σ.
    assert exceedance([0.01, -0.01] * 50) == 0.0
    # The bound is in σ: 4 σ away counts at 2.5, not at 5.
    rs = [0.0] * 998 + [1.0, -1.0]  # σ = √0.002 = 0.0447; 1 / σ = 22 σ
    assert exceedance(rs, sigmas=2.5) == pytest.approx(0.002)
    assert exceedance(rs, sigmas=30.0) == 0.0
    assert exceedance([]) == 0.0 and exceedance([0.003] * 10) == 0.0
    # Exactly at the bound is not above it: ±5 eight times each among 84 zeros → σ = 2,
    # 2.5 σ = 5 exactly.
    at_bound = [5.0] * 8 + [-5.0] * 8 + [0.0] * 84
    assert exceedance(at_bound) == 0.0
    assert exceedance(at_bound, sigmas=2.4999) == pytest.approx(0.16)
    # σ around the window's mean, the bound on |r| itself: 1 nine times and 11 → mean 2,
    # σ = √((9 × 1 + 81) / 10) = 3, 2.5 σ = 7.5: only the 11 is above.
    assert exceedance([1.0] * 9 + [11.0]) == pytest.approx(0.1)
    # The default bound is 2.5 σ: ±3 five times each among 80 zeros → σ = 1, |r| = 3 σ.
    assert exceedance([3.0] * 5 + [-3.0] * 5 + [0.0] * 80) == pytest.approx(10 / 90)


def test_clustering_by_hand() -> None:
    # r² = 4,4,0,0,4,4,0,0: deviations ±2, Σ dev² = 32; lag 1: +4 → 1/8, lag 2: −24 → −3/4,
    # lag 3: −4 → −1/8; the mean is −1/4.
    assert clustering([2.0, -2.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0]) == pytest.approx(-0.25)
    # r² = 1,0,1,0,1,0: lag 1 −5/6, lag 2 2/3, lag 3 −1/2 → −2/9.
    assert clustering([1.0, 0.0, -1.0, 0.0, 1.0, 0.0]) == pytest.approx(-2 / 9)
    # Not periodic (the pairs are t and t + lag, not wrapped round): r² = 1,4,0,0,0,0,
    # mean 5/6, Σ dev² = 462/36; lag 1 −1/462, lag 2 −25/231, lag 3 −25/154 → −1/11.
    assert clustering([1.0, -2.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(-1 / 11)
    # Long calm and wild stretches: strongly clustered.
    assert clustering(([0.001] * 50 + [0.02, -0.02] * 25) * 4) > 0.4
    # r² constant (or nothing at all): no variation to correlate.
    assert clustering([0.01, -0.01] * 10) == 0.0 and clustering([]) == 0.0


@pytest.mark.parametrize(("value", "kind"), [
    (0.4000001, Clustering.EXPANDING), (0.4, Clustering.QUIET),
    (0.1000001, Clustering.QUIET), (0.1, Clustering.MEAN_REVERTING),
    (-0.3, Clustering.MEAN_REVERTING)])
def test_clustering_kind_edges(value: float, kind: Clustering) -> None:
    assert clustering_kind(value) is kind


# -- the regime -----------------------------------------------------------------------------

EXPANDING, NOT_EXPANDING = 0.41, 0.4


@pytest.mark.parametrize(("alpha", "cluster", "regime"), [
    (1.5, 0.0, Regime.CRASH),  # α ≤ 1.5, whatever the clustering
    (1.5, EXPANDING, Regime.CRASH),
    (0.8, EXPANDING, Regime.CRASH),
    (1.5000001, EXPANDING, Regime.VOLATILE_BREAKOUT),
    (1.5000001, NOT_EXPANDING, Regime.MEAN_REVERSION),
    (2.4999999, EXPANDING, Regime.VOLATILE_BREAKOUT),
    (2.5, EXPANDING, Regime.MEAN_REVERSION),  # breakout needs α < 2.5
    (2.0, NOT_EXPANDING, Regime.MEAN_REVERSION),  # clustering exactly 0.4 is not expanding
    (2.0, 0.1, Regime.MEAN_REVERSION),
    (2.9999999, 0.0, Regime.MEAN_REVERSION),
    (3.0, 0.0, Regime.STABLE),  # α ≥ 3
    (3.0, EXPANDING, Regime.STABLE),
    (5.0, 0.2, Regime.STABLE),
])
def test_classify_edges(alpha: float, cluster: float, regime: Regime) -> None:
    assert classify(alpha, cluster) is regime


@pytest.mark.parametrize(("alpha", "scale"), [
    (0.5, 0.1), (1.5, 0.1), (1.6, 0.16), (2.0, 0.4), (2.5, 0.7), (3.0, 1.0), (4.0, 1.0)])
def test_size_scale_edges(alpha: float, scale: float) -> None:
    assert size_scale(alpha) == pytest.approx(scale, abs=1e-12)


def test_size_scale_is_exact_at_its_clamps() -> None:
    """Exactly 1 at α = 3 (0.6 × 3 − 0.8 is 0.9999999999999998 in floating point) and 0.1
    at α = 1.5: a full-size entry must not lose a quantity step to rounding."""
    assert size_scale(3.0) == 1.0 and size_scale(1.5) == 0.1
    reading = RegimeReading(Regime.STABLE, 3.0, 0.0, 0.0, 500)
    assert reading.size_scale == 1.0
    assert UNKNOWN_READING.size_scale == 1.0  # unknown: neutral
    assert RegimeReading(Regime.MEAN_REVERSION, 2.0, 0.0, 0.0, 500).size_scale == 0.4


@pytest.mark.parametrize(("alpha", "leverage", "vetoed"), [
    (1.9999, 6, True), (1.9999, 5.0001, True), (1.9999, 5, False), (2.0, 6, False),
    (2.0, 20, False), (None, 20, False), (0.5, 1, False)])
def test_tail_veto_edges(alpha: float | None, leverage: float, vetoed: bool) -> None:
    assert tail_veto(alpha, leverage) is vetoed


def test_read_warm_up_and_flat_window_are_unknown() -> None:
    rs = pareto_returns(3.0, 100, 7)
    assert read(rs[:99]).regime is Regime.UNKNOWN  # fewer than 100 returns
    assert read(rs[:99]).samples == 99 and read(rs[:99]).alpha is None
    known = read(rs)
    assert known.regime is not Regime.UNKNOWN and known.alpha is not None
    assert known.samples == 100
    flat = read([0.0] * 500)
    assert flat.regime is Regime.UNKNOWN and flat.alpha is None and flat.samples == 500


def test_read_names_the_regime_from_its_figures() -> None:
    crash = read(pareto_returns(1.2, 1_000, 11))
    assert crash.regime is Regime.CRASH and crash.alpha is not None and crash.alpha <= 1.5
    stable = read(pareto_returns(5.0, 1_000, 11))
    assert stable.regime is Regime.STABLE
    assert stable.exceedance is not None and stable.clustering is not None
    assert stable.as_dict()["regime"] == "STABLE" and stable.as_dict()["sizeScale"] == 1.0
    rs = pareto_returns(5.0, 1_000, 11)
    assert (stable.exceedance, stable.clustering) == (exceedance(rs), clustering(rs))
    assert stable.alpha == hill_alpha(rs) and stable.samples == 1_000


def test_reading_as_dict_has_every_figure() -> None:
    r = RegimeReading(Regime.VOLATILE_BREAKOUT, 2.0, 0.03, 0.45, 321)
    assert r.as_dict() == {"regime": "VOLATILE_BREAKOUT", "alpha": 2.0, "exceedance": 0.03,
                           "clustering": 0.45, "clusteringKind": "expanding",
                           "sizeScale": 0.4, "samples": 321}
    assert UNKNOWN_READING.as_dict() == {"regime": "UNKNOWN", "alpha": None, "exceedance": None,
                                         "clustering": None, "clusteringKind": None,
                                         "sizeScale": 1.0, "samples": 0}


def test_tracker_warms_up_rolls_and_ignores_repeated_bars() -> None:
    tracker = RegimeTracker(window=200, warm_up=100)
    assert tracker.regime("BTCUSDT") is Regime.UNKNOWN  # never seen
    price = 100.0
    closes = []
    for r in pareto_returns(4.0, 300, 5):
        closes.append(price)
        price *= math.exp(r)
    for i, close in enumerate(closes[:100]):  # 100 closes = 99 returns
        tracker.add_close("BTCUSDT", close, i * 60_000)
    assert tracker.regime("BTCUSDT") is Regime.UNKNOWN
    assert tracker.reading("BTCUSDT").samples == 99
    # The same bar again (a warm-up overlapping the live minute), or an older one, adds
    # nothing and answers the current reading.
    again = tracker.add_close("BTCUSDT", closes[99] * 1.5, 99 * 60_000)
    assert again == tracker.reading("BTCUSDT") and again.samples == 99
    assert tracker.add_close("BTCUSDT", closes[99] * 1.5, 98 * 60_000).samples == 99
    reading = tracker.add_close("BTCUSDT", closes[100], 100 * 60_000)
    assert reading.samples == 100 and reading.regime is not Regime.UNKNOWN
    tracker.add_closes("BTCUSDT", [(i * 60_000, c) for i, c in enumerate(closes)][101:])
    assert tracker.reading("BTCUSDT").samples == 200  # the window's length
    assert tracker.last_start("BTCUSDT") == 299 * 60_000
    assert tracker.last_start("XRPUSDT") is None
    assert tracker.symbols() == ["BTCUSDT"]
    # Without a start time every close counts (no deduplication to do).
    tracker.add_close("SOLUSDT", 10.0)
    tracker.add_close("SOLUSDT", 10.0)
    assert tracker.reading("SOLUSDT").samples == 1 and tracker.last_start("SOLUSDT") is None
    # A close of 0 (no log) is skipped; the next good close continues the series.
    tracker.add_close("ETHUSDT", 0.0)
    tracker.add_close("ETHUSDT", 10.0)
    tracker.add_close("ETHUSDT", math.inf)
    tracker.add_close("ETHUSDT", math.nan)
    tracker.add_close("ETHUSDT", -3.0)
    tracker.add_close("ETHUSDT", 11.0)
    assert tracker.reading("ETHUSDT").samples == 1
    # Sub-unit prices (DOGE's) are prices like any other.
    tracker.add_close("DOGEUSDT", 0.5)
    tracker.add_close("DOGEUSDT", 0.55)
    assert tracker.reading("DOGEUSDT").samples == 1
    # The first bar may start at 0 (a replay's clock).
    tracker.add_close("LTCUSDT", 50.0, 0)
    tracker.add_close("LTCUSDT", 51.0, 60_000)
    assert tracker.reading("LTCUSDT").samples == 1


def test_tracker_rejects_a_window_shorter_than_its_warm_up() -> None:
    with pytest.raises(ValueError, match=r"^window 50 must be >= warm-up 100 >= 2$"):
        RegimeTracker(window=50, warm_up=100)
    with pytest.raises(ValueError, match=r"^window 10 must be >= warm-up 1 >= 2$"):
        RegimeTracker(window=10, warm_up=1)
    RegimeTracker(window=100, warm_up=100)  # equal is fine
    small = RegimeTracker(window=10, warm_up=2)  # the smallest warm-up
    closes = [100.0, 101.0, 99.0, 102.0]
    for i, close in enumerate(closes):
        small.add_close("BTCUSDT", close, i)
    # The window holds the log returns ln(c_t / c_{t-1}), and reads as `read` does.
    logs = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    assert small.reading("BTCUSDT") == read(logs, warm_up=2)
    assert small.regime("BTCUSDT") is not Regime.UNKNOWN
    assert small.add_closes("ETHUSDT", list(enumerate(closes))) == read(logs, warm_up=2)
