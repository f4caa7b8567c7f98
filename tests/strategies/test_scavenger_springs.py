"""The springing detector (SPEC §6): 50 in-band trades within 100 ms, 0.1 % band, 5 min cooldown."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.springs import SpringDetector


def mk(
    level: float,
    *,
    symbol: str = "BTCUSDT",
    kind: TripwireKind = TripwireKind.DAILY_LEVEL,
    label: str = "high",
    direction: Direction = Direction.LONG,
    score: float = 70.0,
) -> Trap:
    return Trap(Tripwire(symbol, kind, level, 85, 12, direction, label), score, 0, 0, 0, 0.5)


def armed(*traps: Trap, now_ms: int = 0) -> SpringDetector:
    d = SpringDetector()
    d.arm(traps, now_ms)
    return d


def feed(
    d: SpringDetector, prices_ts: list[tuple[float, int]], symbol: str = "BTCUSDT"
) -> list[Trap]:
    out = []
    for p, ts in prices_ts:
        t = d.on_trade(symbol, p, ts)
        if t is not None:
            out.append(t)
    return out


def test_49_in_100ms_do_not_spring_the_50th_does() -> None:
    trap = mk(100.0)
    d = armed(trap)
    for i in range(49):
        assert d.on_trade("BTCUSDT", 100.0, 1_000 + i) is None
    assert d.on_trade("BTCUSDT", 100.05, 1_049) == trap


def test_fifty_spanning_98ms_spring_but_100ms_apart_is_not_one_window() -> None:
    d = armed(mk(100.0))
    assert len(feed(d, [(100.0, 2 * i) for i in range(50)])) == 1  # ts 0..98
    # Window is (ts − 100, ts]: first at 0, last at 100 → only 49 in any window.
    d = armed(mk(100.0))
    trades = [(100.0, i) for i in range(49)] + [(100.0, 100)]
    assert feed(d, trades) == []


def test_fifty_spread_over_150ms_do_not_spring() -> None:
    d = armed(mk(100.0))
    assert feed(d, [(100.0, 3 * i) for i in range(50)]) == []  # ts 0..147


def test_trades_outside_the_band_do_not_count() -> None:
    d = armed(mk(100.0))
    # 0.11 % away on either side: never counted.
    assert feed(d, [(100.11 if i % 2 else 99.89, i) for i in range(200)]) == []
    # 0.099 % away on either side: counted.
    assert len(feed(d, [(100.099 if i % 2 else 99.901, 1_000 + i) for i in range(50)])) == 1


def test_out_of_band_trades_interleaved_do_not_help() -> None:
    d = armed(mk(100.0))
    trades = []
    for i in range(49):
        trades.append((100.0, i))
        trades.append((100.2, i))
    assert feed(d, trades) == []
    assert len(feed(d, [(100.0, 49)])) == 1


def test_cooldown_five_minutes_then_springs_again() -> None:
    trap = mk(100.0)
    d = armed(trap)
    assert feed(d, [(100.0, i) for i in range(50)]) == [trap]  # sprung at ts 49
    assert d.cooldown_until(trap.trap_id) == 49 + 300_000
    # A burst one minute later and another just before the cooldown ends: nothing.
    assert feed(d, [(100.0, 60_000 + i) for i in range(100)]) == []
    assert feed(d, [(100.0, 300_048 - 49 + i) for i in range(50)]) == []  # ts ..300_048
    # Once the cooldown is over, 50 fresh trades spring it again (none carried over).
    assert feed(d, [(100.0, 300_049 + i) for i in range(49)]) == []
    assert feed(d, [(100.0, 300_049 + 49)]) == [trap]


def test_other_symbols_and_far_levels_are_independent() -> None:
    btc, eth = mk(100.0), mk(100.0, symbol="ETHUSDT")
    d = armed(btc, eth, mk(90.0, label="low", direction=Direction.SHORT), mk(110.0, label="x"))
    assert feed(d, [(100.0, i) for i in range(49)], "ETHUSDT") == []
    assert feed(d, [(100.0, i) for i in range(49)], "BTCUSDT") == []
    assert feed(d, [(100.0, 49)], "ETHUSDT") == [eth]
    assert feed(d, [(100.0, 49)], "BTCUSDT") == [btc]
    assert d.on_trade("SOLUSDT", 100.0, 50) is None


def test_sorted_book_finds_the_right_level() -> None:
    traps = [mk(float(lv), label=str(lv)) for lv in (110, 90, 105, 95, 100)]
    d = armed(*traps)
    sprung = feed(d, [(105.0, i) for i in range(50)])
    assert [t.level for t in sprung] == [105.0]


def test_same_level_traps_spring_once_best_score_first() -> None:
    weak = mk(100.0, kind=TripwireKind.BOLLINGER, label="upper", score=62)
    strong = mk(100.05, kind=TripwireKind.LIQUIDATION_CLUSTER, label="peak", score=80)
    d = armed(weak, strong)
    assert feed(d, [(100.02, i) for i in range(50)]) == [strong]
    # The weak one, at the same level and direction, cooled down with it.
    assert feed(d, [(100.02, 1_000 + i) for i in range(100)]) == []
    assert d.cooldown_until(weak.trap_id) == 49 + 300_000


def test_rearm_keeps_cooldown_of_same_trap_and_same_level() -> None:
    trap = mk(100.0)
    d = armed(trap)
    assert feed(d, [(100.0, i) for i in range(50)]) == [trap]
    # One minute later the level has drifted; same id → still cooling down.
    moved = mk(100.3)
    # A different trap at the same level and direction → also cooling down.
    twin = mk(100.02, kind=TripwireKind.BOLLINGER, label="upper")
    # Same level, other direction → a different trap, free to spring.
    other_way = mk(99.98, kind=TripwireKind.BOLLINGER, label="lower", direction=Direction.SHORT)
    d.arm([moved, twin, other_way], now_ms=60_000)
    assert d.cooldown_until(moved.trap_id) == 300_049
    assert d.cooldown_until(twin.trap_id) == 300_049
    assert d.cooldown_until(other_way.trap_id) is None
    assert feed(d, [(100.0, 60_000 + i) for i in range(50)]) == [other_way]
    assert feed(d, [(100.3, 61_000 + i) for i in range(50)]) == []
    # After five minutes the memory of the spring is dropped and traps arm fresh.
    d.arm([twin], now_ms=300_049)
    assert d.cooldown_until(twin.trap_id) is None


def test_rearm_keeps_the_count_in_progress() -> None:
    trap = mk(100.0)
    d = armed(trap)
    assert feed(d, [(100.0, i) for i in range(30)]) == []
    d.arm([mk(100.01)], now_ms=30)
    assert len(feed(d, [(100.0, 30 + i) for i in range(20)])) == 1
    # A level that moved by more than the band starts counting afresh.
    d = armed(trap)
    assert feed(d, [(100.0, i) for i in range(30)]) == []
    d.arm([mk(100.5)], now_ms=30)
    assert feed(d, [(100.5, 30 + i) for i in range(20)]) == []


def test_disarm_all_and_armed_listing() -> None:
    a, b = mk(100.0), mk(200.0, symbol="ETHUSDT")
    d = armed(a, b)
    assert set(d.armed()) == {a, b}
    assert d.armed("ETHUSDT") == [b]
    assert d.armed("XRPUSDT") == []
    d.disarm_all()
    assert d.armed() == []
    assert feed(d, [(100.0, i) for i in range(60)]) == []


# --- properties --------------------------------------------------------------------------

LEVEL = 1000.0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1000.0, 1000.5, 999.5, 1000.99, 1001.2, 998.9]),
            st.integers(0, 12),
        ),
        max_size=300,
    )
)
def test_never_springs_without_n_in_band_trades_in_a_window(steps: list[tuple[float, int]]) -> None:
    """Brute-force model: the detector springs exactly when ≥ N in-band, counted trades fall in
    (ts − W, ts], counted meaning not inside a cooldown."""
    n, window, cooldown = 5, 10, 40
    trap = mk(LEVEL)
    d = SpringDetector(min_trades=n, window_ms=window, cooldown_ms=cooldown)
    d.arm([trap], 0)
    ts = 0
    counted: list[int] = []
    cooldown_until = -1
    for price, dt in steps:
        ts += dt
        sprung = d.on_trade("BTCUSDT", price, ts)
        in_band = abs(price - LEVEL) <= LEVEL * 0.001
        expect = False
        if in_band and ts >= cooldown_until:
            counted.append(ts)
            if sum(1 for t in counted if t > ts - window) >= n:
                expect = True
                cooldown_until = ts + cooldown
                counted = []
        assert (sprung is not None) == expect


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(990.0, 1010.0), min_size=1, max_size=8, unique=True),
    st.lists(st.tuples(st.floats(989.0, 1011.0), st.integers(0, 3)), max_size=400),
)
def test_many_traps_each_spring_backed_by_n_in_band_trades(
    levels: list[float], steps: list[tuple[float, int]]
) -> None:
    n, window = 5, 10
    traps = [mk(lv, label=f"l{i}", score=float(i)) for i, lv in enumerate(levels)]
    d = SpringDetector(min_trades=n, window_ms=window, cooldown_ms=50)
    d.arm(traps, 0)
    history: list[tuple[float, int]] = []
    ts = 0
    for price, dt in steps:
        ts += dt
        history.append((price, ts))
        sprung = d.on_trade("BTCUSDT", price, ts)
        if sprung is not None:
            lv = sprung.level
            in_window = [p for p, t in history if t > ts - window and abs(p - lv) <= lv * 0.001]
            assert len(in_window) >= n
            assert abs(price - lv) <= lv * 0.001
