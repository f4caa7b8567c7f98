"""`titan backtest` over hand-built data: the Scavenger springs its daily-high trap, the
entry fills through the matching engine after the latency and the target closes it —
fill, fees and PnL checked to the digit; the same input writes the same bytes; the
latency moves the fill; bad runs exit 2 with a reason."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.backtest import scenario as sc
from titan.backtest.report import iso_ms
from titan.cli import main

FEE = Decimal("0.00055")  # the simulator's taker fee (Bybit's)
Q = Decimal("0.00000001")


def backtest(data: Path, out: Path, *extra: str, start: int = sc.START,
             end: int = sc.END) -> int:
    return main(["backtest", "--strategy", "scavenger", "--symbols", sc.SYMBOL,
                 "--start", str(iso_ms(start)), "--end", str(iso_ms(end)),
                 "--data", str(data), "--out", str(out), *extra])


def report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    return data


def test_trap_springs_and_the_target_pays_to_the_digit(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert backtest(data_dir, out) == 0
    r = report(out)
    assert r["trades"] == 1
    (trade,) = r["trade_list"]
    # The 50th trade at the level (SPRING + 49 ms) springs it; the entry is priced on the
    # next top-of-book update (SPRING + 50: one per 10 ms) and arrives 200 ms later.
    assert trade["openedMs"] == sc.SPRING + 50 + 200
    assert (trade["side"], trade["signalKind"], trade["exitReason"]) == (
        "long", "daily_level", "TakeProfit")
    entry, exit_ = trade["fills"]
    # A limit 0.2 % through the touch (152.30) takes the best ask, the last trade (152.00).
    assert (entry["side"], entry["price"], entry["qty"], entry["maker"]) == (
        "Buy", "152.000", "26.2", False)
    # Target = 152.30 × 1.03 = 156.869 → 156.87 on the tick; the trade that crosses it
    # (156.88, a taker buy) leaves the best bid one tick under: the exit fills at 156.87.
    assert (exit_["side"], exit_["price"], exit_["kind"]) == ("Sell", "156.870", "TakeProfit")
    qty = Decimal("26.2")
    fee_in = (Decimal("152.000") * qty * FEE).quantize(Q, ROUND_HALF_UP)
    fee_out = (Decimal("156.870") * qty * FEE).quantize(Q, ROUND_HALF_UP)
    gross = (Decimal("156.870") - Decimal("152.000")) * qty
    assert (entry["fee"], exit_["fee"]) == ("2.19032000", "2.26049670")
    assert (Decimal(entry["fee"]), Decimal(exit_["fee"])) == (fee_in, fee_out)
    assert Decimal(trade["grossPnl"]) == gross == Decimal("127.594")
    assert trade["netPnl"] == "123.14318330" and Decimal(trade["netPnl"]) == gross - fee_in - fee_out
    assert (r["net_pnl"], r["gross_pnl"], r["fees"], r["funding"]) == (
        "123.14318330", "127.59400000", "4.45081670", "0")
    assert r["end_equity"] == "2123.14318330"
    assert r["win_rate"] == 1.0 and r["profit_factor"] is None  # no loss: no finite ratio
    assert r["per_signal_kind"]["daily_level"]["trades"] == 1
    assert r["per_strategy"]["scavenger"]["net_pnl"] == "123.14318330"
    assert r["data_range"]["events"]["signalTrades"] == len(sc.binance_trades())
    assert r["data_range"]["execution_prices"][sc.SYMBOL].startswith("binance")
    assert r["config"]["latency_ms"] == 200 and r["config"]["source"] == "defaults"
    assert 0 < r["exposure"] < 1
    assert (out / "report.html").stat().st_size > 100_000  # plotly inlined


def test_same_input_same_bytes(data_dir: Path, tmp_path: Path) -> None:
    assert backtest(data_dir, tmp_path / "a") == 0
    assert backtest(data_dir, tmp_path / "b") == 0
    a = (tmp_path / "a" / "report.json").read_bytes()
    assert a == (tmp_path / "b" / "report.json").read_bytes()
    assert (tmp_path / "a" / "report.html").read_bytes() == (
        tmp_path / "b" / "report.html").read_bytes()


def test_latency_moves_the_fill(data_dir: Path, tmp_path: Path) -> None:
    fills = {}
    for ms in (0, 200, 2500):
        assert backtest(data_dir, tmp_path / str(ms), "--latency-ms", str(ms)) == 0
        (trade,) = report(tmp_path / str(ms))["trade_list"]
        fills[ms] = (trade["openedMs"], trade["fills"][0]["price"])
    assert fills[0] == (sc.SPRING + 50, "152.000")
    assert fills[200] == (sc.SPRING + 250, "152.000")
    # 2.5 s later the price has moved to 152.04 (trade at SPRING + 2 s): the limit at
    # 152.30 takes that ask instead.
    assert fills[2500] == (sc.SPRING + 2550, "152.040")


def test_a_range_with_no_data_says_so(data_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = backtest(data_dir, tmp_path / "x", start=sc.END + 86_400_000,
                    end=sc.END + 2 * 86_400_000)
    assert code == 2
    assert "no market data for SOLUSDT" in capsys.readouterr().err
    assert not (tmp_path / "x" / "report.json").exists()


def test_unknown_strategy_and_config_tag(data_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--strategy", "nosuch", "--symbols", sc.SYMBOL, "--start",
                 "2025-03-11", "--end", "2025-03-12", "--data", str(data_dir),
                 "--out", str(tmp_path / "y")])
    assert code == 2
    assert "unknown strategy 'nosuch' (known: hunter, scavenger, sentinel)" in capsys.readouterr().err
    assert backtest(data_dir, tmp_path / "z", "--config", "2020-01-01T00:00:00Z") == 2
    assert "unknown config tag '2020-01-01T00:00:00Z'" in capsys.readouterr().err


def test_config_file_changes_the_run(data_dir: Path, tmp_path: Path) -> None:
    """A config file with the Scavenger switched off: the trap springs into a pause."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"config": {"maxRiskPerTrade": 0.01},
                               "strategies": {"scavenger": {"enabled": False, "phases": [1],
                                                            "params": {}}}}))
    assert backtest(data_dir, tmp_path / "off", "--config", str(cfg)) == 0
    r = report(tmp_path / "off")
    assert r["trades"] == 0
    assert r["config"]["risk"]["maxRiskPerTrade"] == 0.01
    assert r["config"]["strategies"]["scavenger"]["enabled"] is False


async def _write_version(data: Path) -> str:
    """A config version in a real Titan database (migrated as Titan does)."""
    from datetime import UTC, datetime

    from titan.risk.config import RiskConfig
    from titan.store.config_versions import ConfigVersionStore
    from titan.store.db import Database

    db = Database(data / "titan.db")
    await db.open()
    try:
        cfg = {**RiskConfig().to_api(), "maxRiskPerTrade": 0.01}
        v = await ConfigVersionStore(db).insert(
            datetime(2025, 3, 1, 12, tzinfo=UTC), cfg, actor="test", source="api",
            strategies={"scavenger": {"enabled": True, "phases": [1], "params": {}}})
    finally:
        await db.close()
    return v.version_tag


def test_a_config_version_tag_from_titans_database(data_dir: Path, tmp_path: Path) -> None:
    """Half the risk per trade (1 %): the same trade at half the size."""
    import asyncio

    tag = asyncio.run(_write_version(data_dir))
    assert backtest(data_dir, tmp_path / "v", "--config", tag) == 0
    r = report(tmp_path / "v")
    assert r["config"]["source"] == f"version:{tag}"
    assert r["config"]["risk"]["maxRiskPerTrade"] == 0.01
    (trade,) = r["trade_list"]
    assert trade["qty"] == "13.1"  # 26.2 at 2 %: the loss at the stop is sized to 1 %
