"""AI Quant's deterministic rules on hand-built journals: insights, the gate, the space."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from titan.quant.gate import Figures, changes_key, gate, recently_rejected
from titan.quant.insights import JournalTrade, insights
from titan.quant.space import out_of_range, search_space
from titan.strategies.hunter.params import HunterParams
from titan.strategies.scavenger.params import ScavengerParams

T0 = datetime(2025, 3, 11, tzinfo=UTC)


def trade(i: int, pnl: str, *, hour: int = 12, symbol: str = "BTCUSDT", regime: str = "NORMAL",
          kind: str = "daily_level") -> JournalTrade:
    opened = T0 + timedelta(days=i // 10, hours=hour, minutes=i % 10)
    return JournalTrade(id=i, symbol=symbol, net_pnl=Decimal(pnl), opened_at=opened,
                        closed_at=opened + timedelta(minutes=5), regime=regime,
                        signal_kind=kind)


def test_fewer_than_five_trades_gives_no_insight_and_says_why() -> None:
    r = insights([trade(i, "-1") for i in range(4)])
    assert not r.enough and r.insights == () and r.confidence == 0.0
    assert "too few trades" in r.note and "4 closed" in r.note


def test_a_weak_hour_bucket_is_flagged_with_its_evidence() -> None:
    # hour 03: 1 win of 3 (33 % < 40 %); hour 12: 3 of 3 — only 03 is flagged
    trades = [trade(1, "5", hour=3), trade(2, "-2", hour=3), trade(3, "-1", hour=3),
              trade(4, "4"), trade(5, "4"), trade(6, "4")]
    r = insights(trades)
    hours = [i for i in r.insights if i.kind == "hour"]
    assert [i.key for i in hours] == ["03"]
    ev = hours[0].evidence
    assert ev == {"trades": 3, "wins": 1, "win_rate": 0.3333, "net_pnl": "2",
                  "trade_ids": [1, 2, 3]}
    assert r.enough and r.confidence == 0.6  # one flagged: 0.5 + 0.1


def test_bucket_needs_three_trades_and_forty_percent_is_not_below() -> None:
    # two losses at hour 03 (n < 3: not flagged); 2 of 5 wins overall at 12 = 40 %: not < 40 %
    trades = [trade(1, "-1", hour=3), trade(2, "-1", hour=3), trade(3, "1"), trade(4, "1"),
              trade(5, "-1"), trade(6, "-1"), trade(7, "-1", symbol="ETHUSDT")]
    r = insights(trades)
    assert [i.key for i in r.insights if i.kind == "hour"] == []


def test_regime_and_signal_kind_buckets() -> None:
    trades = [trade(i, "-1", regime="CRASH", kind="bollinger") for i in range(3)]
    trades += [trade(i, "2", regime="NORMAL", kind="daily_level", symbol="ETHUSDT")
               for i in range(3, 7)]
    r = insights(trades)
    assert [(i.kind, i.key) for i in r.insights if i.kind in ("regime", "signal_kind")] == [
        ("regime", "CRASH"), ("signal_kind", "bollinger")]


def test_symbol_threshold_is_35_percent() -> None:
    # SOLUSDT 1 of 3 = 33 % < 35 %: flagged; ETHUSDT 3 of 8 = 37.5 %: not (the hour/kind
    # buckets of ETH are below 40 % though, so they are)
    sol = [trade(1, "1", symbol="SOLUSDT", hour=1), trade(2, "-1", symbol="SOLUSDT", hour=2),
           trade(3, "-1", symbol="SOLUSDT", hour=4)]
    eth = [trade(10 + i, "1" if i < 3 else "-1", symbol="ETHUSDT", hour=5 + i % 2,
                 kind="k") for i in range(8)]
    r = insights(sol + eth)
    assert [i.key for i in r.insights if i.kind == "symbol"] == ["SOLUSDT"]


def test_loss_runs_of_five_and_the_confidence_cap() -> None:
    trades = [trade(i, "-1", hour=i % 24, symbol=f"S{i}USDT", kind=f"k{i}",
                    regime=f"R{i}") for i in range(5)]
    trades += [trade(5, "3", hour=20), trade(6, "-1", hour=21), trade(7, "-1", hour=22)]
    r = insights(trades)
    runs = [i for i in r.insights if i.kind == "loss_run"]
    assert [(i.key, i.evidence["trades"]) for i in runs] == [("0-4", 5)]
    # four losses then a win: no run
    r2 = insights([trade(i, "-1", hour=i) for i in range(4)] + [trade(4, "1", hour=9)])
    assert not [i for i in r2.insights if i.kind == "loss_run"]
    # many flagged buckets: confidence is capped at 0.9
    many = [trade(i, "-1") for i in range(6)]
    assert insights(many).confidence == 0.9


def fig(pnl: str, dd: str, n: int) -> Figures:
    return Figures(Decimal(pnl), Decimal(dd), n)


def test_gate_rules() -> None:
    active = fig("100", "50", 4)
    assert gate(active, fig("101", "55", 3), min_trades=3).passed  # 55 = 1.1 × 50: allowed
    v = gate(active, fig("100", "55.01", 2), min_trades=3, out_of_range=["risk.maxLeverage"])
    assert not v.passed and len(v.failures) == 4
    assert "does not beat" in v.failures[0] and "1.1" in v.failures[1]
    assert "fewer than the minimum 3" in v.failures[2] and "maxLeverage" in v.failures[3]
    # an active config with no drawdown: the candidate may have none either
    assert not gate(fig("0", "0", 0), fig("5", "0.01", 3), min_trades=1).passed


def test_recently_rejected_is_thirty_days_and_same_values() -> None:
    now = T0 + timedelta(days=40)
    changes = {"scavenger.minTrades": {"from": 12, "to": 40}}
    assert changes_key(changes) == {"scavenger.minTrades": 40}
    assert recently_rejected(changes, [(now - timedelta(days=29), changes)], now)
    assert not recently_rejected(changes, [(now - timedelta(days=31), changes)], now)
    other = {"scavenger.minTrades": {"from": 12, "to": 41}}
    assert not recently_rejected(other, [(now - timedelta(days=1), changes)], now)


def test_search_space_is_the_guardrails_within_the_models_ranges() -> None:
    s = search_space("hunter", HunterParams)
    assert (s["risk.maxLeverage"].low, s["risk.maxLeverage"].high) == (5.0, 20.0)
    assert (s["risk.maxRiskPerTrade"].low, s["risk.maxRiskPerTrade"].high) == (0.01, 0.05)
    assert (s["risk.maxDailyDrawdown"].low, s["risk.maxDailyDrawdown"].high) == (0.03, 0.10)
    assert (s["hunter.stopPct"].low, s["hunter.stopPct"].high) == (0.5, 5.0)
    assert (s["hunter.targetPct"].low, s["hunter.targetPct"].high) == (1.0, 15.0)
    assert s["hunter.topN"].integer and "risk.whitelist" not in s
    assert "risk.maxPositionNotional" not in s  # not whitelisted
    sc = search_space("scavenger", ScavengerParams)
    assert (sc["scavenger.minTrades"].low, sc["scavenger.minTrades"].high) == (10, 500)
    assert out_of_range(sc, {"scavenger.minTrades": 501, "risk.maxLeverage": 21.0,
                             "scavenger.windowMs": 100, "risk.maxStalenessMs": 1000,
                             "scavenger.atrPeriod": 7.5}) == [
        "risk.maxLeverage", "risk.maxStalenessMs", "scavenger.atrPeriod", "scavenger.minTrades"]
