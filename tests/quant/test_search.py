"""The search and the gate over recorded data in a real market-data store (tests/quant/
scenario.py): a plainly bad `minTrades` is fixed and passes the hold-out gate; a good
active config yields no proposal; no data → no proposal, said so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.quant import scenario as sc
from titan.marketdata.store import MarketDataStore
from titan.quant.search import SearchError, SearchInput, run
from titan.risk.config import RiskConfig

PARAMS = ["scavenger.minTrades"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sc.write(tmp_path_factory.mktemp("quant") / "data")


def inp(data: Path, active_min: int, **kw: Any) -> SearchInput:
    base: dict[str, Any] = {
        "config_version": "2025-03-11T00:00:00Z", "risk": RiskConfig().to_api(),
        "strategies": {"scavenger": {"params": {"minTrades": active_min}}},
        "strategy": "scavenger", "symbols": [sc.SYMBOL], "train": sc.TRAIN,
        "holdout": sc.HOLDOUT, "data_dir": str(data), "trials": 6, "timeout_s": 60.0,
        "params": PARAMS, "min_trades": 1}
    base.update(kw)
    return SearchInput(**base)


def test_a_plainly_bad_parameter_is_fixed_and_passes_the_gate(data: Path) -> None:
    store = MarketDataStore(data / "marketdata")
    out = run(inp(data, 12), store)
    p = out["proposal"]
    assert p is not None, out["note"]
    (name, change), = p["changes"].items()
    assert name == "scavenger.minTrades" and change["from"] == 12
    assert 16 <= change["to"] <= 450  # skips the noise burst, springs on the sweep
    assert p["gate"] == {"passed": True, "failures": []}
    act, cand = p["active"], p["candidate"]
    assert (act["trades"], cand["trades"]) == (2, 1)  # the stop-out is gone
    assert float(cand["net_pnl"]) > float(act["net_pnl"]) > 0
    assert float(cand["max_drawdown"]) <= 1.1 * float(act["max_drawdown"])
    assert len(act["equity_curve"]) > 10 and len(cand["equity_curve"]) > 10
    assert out["trials"] == 6 and out["timed_out"] is False
    # deterministic: the same seed finds the same candidate
    again = run(inp(data, 12), store)
    assert again["proposal"]["changes"] == p["changes"]


def test_no_candidate_beats_a_good_active_config(data: Path) -> None:
    out = run(inp(data, 50), MarketDataStore(data / "marketdata"))
    assert out["proposal"] is None
    assert "no candidate beat the active config" in out["note"]


def test_a_candidate_rejected_in_the_last_30_days_is_dropped(data: Path) -> None:
    store = MarketDataStore(data / "marketdata")
    first = run(inp(data, 12), store)["proposal"]["changes"]
    rejected = [{"decided_at": "2026-12-01T00:00:00Z", "changes": first}]
    from datetime import UTC, datetime
    out = run(inp(data, 12, rejected=rejected), store, now=datetime(2026, 12, 7, tzinfo=UTC))
    assert out["proposal"] is None and "rejected in the last 30 days" in out["note"]


def test_out_of_time_keeps_the_best_evaluated_and_still_gates(data: Path) -> None:
    # a clock that moves one second per look: 3 s allow 3 of the 100 trials (the active
    # config, then two samples); the best of them still goes through the hold-out gate
    ticks = iter(range(1_000))
    store = MarketDataStore(data / "marketdata")
    out = run(inp(data, 12, trials=100, timeout_s=3.0), store,
              clock=lambda: float(next(ticks)))
    assert out["trials"] == 3 and out["timed_out"] is True
    assert out["proposal"] is not None and out["proposal"]["gate"]["passed"]
    # and a gate the best cannot pass (more trades than the hold-out has): no proposal
    ticks = iter(range(1_000))
    out = run(inp(data, 12, trials=100, timeout_s=3.0, min_trades=5), store,
              clock=lambda: float(next(ticks)))
    assert out["proposal"] is None and "failed the hold-out gate" in out["note"]
    assert "fewer than the minimum 5" in out["note"]


def test_too_little_data_and_bad_input(data: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    out = run(inp(empty, 12, data_dir=str(empty)), MarketDataStore(empty / "marketdata"))
    assert out["proposal"] is None and out["note"].startswith("too little data")
    with pytest.raises(SearchError, match="not tunable"):
        run(inp(data, 12, params=["risk.whitelist"]), MarketDataStore(data / "marketdata"))
    with pytest.raises(SearchError, match="unknown strategy"):
        run(inp(data, 12, strategy="nope"), MarketDataStore(data / "marketdata"))

