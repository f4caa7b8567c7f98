from __future__ import annotations

from decimal import Decimal

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import Severity
from titan.risk.config import RiskConfig, RiskConfigError, apply_update, parse_config
from titan.risk.phases import PHASES, PhaseManager, effective_limits, next_phase, phase_for_equity

from .conftest import Recorder


def test_defaults_and_aliases() -> None:
    c = RiskConfig()
    api = c.to_api()
    assert api["maxOpenOrdersPerSymbol"] == 2
    assert api["maxStalenessMs"] == 5000
    assert api["whitelist"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert api["consecutiveLossLimit"] == 3 and api["cooldownHours"] == 4
    assert parse_config(api) == c


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("maxRiskPerTrade", 0.0099), ("maxRiskPerTrade", 0.051), ("maxDailyDrawdown", 0.02),
        ("maxDailyDrawdown", 0.11), ("maxLeverage", 4), ("maxLeverage", 51),
        ("maxPositionNotional", 0), ("maxOpenOrdersPerSymbol", 0), ("maxOpenOrdersPerSymbol", 21),
        ("maxStalenessMs", 99), ("maxStalenessMs", 60_001), ("consecutiveLossLimit", 21),
        ("volatilityMovePct", 0.4), ("volatilityWindowS", 3601), ("cooldownHours", 0.08),
        ("cooldownHours", 73), ("maxRiskPerTrade", "0.02"), ("maxLeverage", True),
        ("maxRiskPerTrade", float("nan")), ("whitelist", ["btc-usdt"]), ("whitelist", "BTCUSDT"),
    ],
)
def test_out_of_range_names_the_field(field: str, bad: object) -> None:
    original = RiskConfig()
    with pytest.raises(RiskConfigError) as err:
        apply_update(original, {field: bad})
    assert field in err.value.errors
    assert field in str(err.value)
    assert original == RiskConfig()


def test_unknown_field_forbidden() -> None:
    with pytest.raises(RiskConfigError) as err:
        apply_update(RiskConfig(), {"maxRisk": 0.02})
    assert "maxRisk" in err.value.errors
    with pytest.raises(RiskConfigError):
        parse_config({"nope": 1})


def test_partial_update_returns_new_config() -> None:
    c = RiskConfig()
    new = apply_update(c, {"maxRiskPerTrade": 0.03, "maxAccountLeverage": 10})
    assert new.max_risk_per_trade == 0.03 and new.max_leverage == 10
    assert c.max_risk_per_trade == 0.02 and c.max_leverage == 20
    assert apply_update(c, {"max_leverage": 7}).max_leverage == 7
    with pytest.raises(RiskConfigError):
        apply_update(c, {"maxLeverage": 10, "maxAccountLeverage": 12})
    # several errors at once, one per field
    with pytest.raises(RiskConfigError) as err:
        apply_update(c, {"maxRiskPerTrade": 1, "maxLeverage": 100})
    assert set(err.value.errors) == {"maxRiskPerTrade", "maxLeverage"}


def test_whitelist_dedupes() -> None:
    assert apply_update(RiskConfig(), {"whitelist": ["BTCUSDT", "BTCUSDT"]}).whitelist == ("BTCUSDT",)


@pytest.mark.parametrize(
    ("equity", "phase"),
    [(0, 1), (4999.99, 1), (5000, 2), (49_999.99, 2), (50_000, 3), (10**7, 3)],
)
def test_phase_table_boundaries(equity: float, phase: int) -> None:
    assert phase_for_equity(Decimal(str(equity))).number == phase


def test_hysteresis() -> None:
    assert next_phase(2, Decimal(4600)) == 2  # below 5000 but not below 4500
    assert next_phase(2, Decimal(4500)) == 2
    assert next_phase(2, Decimal("4499.99")) == 1
    assert next_phase(3, Decimal(45_000)) == 3
    assert next_phase(3, Decimal("44999")) == 2
    assert next_phase(3, Decimal(4600)) == 2  # crash: drops past 3 but hysteresis holds at 2
    assert next_phase(3, Decimal(1000)) == 1
    assert next_phase(1, Decimal(5000)) == 2  # up is immediate
    assert next_phase(1, Decimal(60_000)) == 3


def test_phase_table_values() -> None:
    p1, p2, p3 = PHASES
    assert (p1.max_risk_per_trade, p1.max_leverage, p1.max_daily_drawdown) == (Decimal("0.02"), 20, Decimal("0.07"))
    assert (p2.max_risk_per_trade, p2.max_leverage, p2.max_daily_drawdown) == (Decimal("0.015"), 5, Decimal("0.05"))
    assert (p3.max_risk_per_trade, p3.max_leverage, p3.max_daily_drawdown) == (Decimal("0.005"), 3, Decimal("0.03"))
    assert all("scavenger" in p.strategies for p in PHASES)


def test_effective_limits_are_stricter() -> None:
    cfg = apply_update(RiskConfig(), {"maxRiskPerTrade": 0.01, "maxLeverage": 10, "maxDailyDrawdown": 0.1})
    l1 = effective_limits(cfg, PHASES[0])
    assert l1.max_risk_per_trade == Decimal("0.01")  # operator stricter
    assert l1.max_leverage == 10  # operator stricter
    assert l1.max_daily_drawdown == Decimal("0.07")  # phase stricter
    l3 = effective_limits(cfg, PHASES[2])
    assert (l3.max_risk_per_trade, l3.max_leverage, l3.max_daily_drawdown) == (Decimal("0.005"), 3, Decimal("0.03"))


async def test_phase_manager_events(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    saved: list[dict] = []

    async def save(s: dict) -> None:
        saved.append(s)

    pm = PhaseManager(bus, clock, on_change=save)
    assert pm.current.number == 3  # unknown equity: strictest
    await pm.on_equity(Decimal(4000))
    assert pm.current.number == 1
    assert await pm.on_equity(Decimal(4100)) is None
    up = await pm.on_equity(Decimal(6000))
    assert up is not None and up.alert_severity is None and pm.current.number == 2
    assert await pm.on_equity(Decimal(4600)) is None
    down = await pm.on_equity(Decimal(4400))
    assert down is not None and down.alert_severity is Severity.HIGH and down.data["drop"]
    assert len(rec.named("PHASE_CHANGED")) == 3
    assert saved[-1] == {"phase": 1}
    assert PhaseManager(bus, clock, saved[-1]).current.number == 1


def test_whitelist_change() -> None:
    from titan.risk.config import apply_whitelist_change

    c = RiskConfig()
    known = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}
    assert apply_whitelist_change(c, "add", "XRPUSDT", known).whitelist[-1] == "XRPUSDT"
    assert "SOLUSDT" not in apply_whitelist_change(c, "remove", "SOLUSDT").whitelist
    for action, symbol, field in [("add", "FOOUSDT", "symbol"), ("remove", "XRPUSDT", "symbol"),
                                  ("toggle", "BTCUSDT", "action"), ("add", "btc", "symbol")]:
        with pytest.raises(RiskConfigError) as err:
            apply_whitelist_change(c, action, symbol, known)
        assert field in err.value.errors
    assert c.whitelist == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
