"""`titan backtest --strategy hunter` over a hand-built market-data store (the real
`MarketDataStore`): the planned long rests post-only at the order block, fills as maker
when the perpetual trades through it, is half closed at 2R and the rest taken by the 3R
target — the same Hunter code that trades live, on the replay's context (its listing,
candles, position and equity). Without the order-flow confirmation nothing is sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.backtest import hunter_scenario as sc
from titan.backtest.report import iso_ms
from titan.cli import main
from titan.marketdata.store import MarketDataStore


def _run(tmp_path: Path, *, flow: bool = True,
         dip: bool = True, balance: str = "10000") -> dict[str, Any]:
    data = tmp_path / "data"
    store = MarketDataStore(data / "marketdata")
    sc.write_store(store, flow=flow, dip=dip)  # without flow: no absorption to confirm the long
    out = tmp_path / "out"
    code = main(["backtest", "--strategy", "hunter", "--symbols", f"{sc.SYMBOL},{sc.BTC}",
                 "--start", str(iso_ms(sc.START)), "--end", str(iso_ms(sc.END)), "--data", str(data),
                 "--balance", balance, "--out", str(out)])
    assert code == 0
    assert (out / "report.html").is_file()
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def test_a_planned_hunter_long_fills_at_the_block_and_exits_at_the_target(
        tmp_path: Path) -> None:
    r = _run(tmp_path)
    assert r["trades"] == 1 and r["per_strategy"].keys() == {"hunter"}
    (trade,) = r["trade_list"]
    assert (trade["symbol"], trade["side"], trade["exitReason"], trade["signalKind"]) == (
        sc.SYMBOL, "long", "TakeProfit", "order_block_long")
    entry, partial, target = trade["fills"]
    # Post-only at the block's top, resting until the perpetual traded through it: maker.
    assert (entry["side"], entry["price"], entry["maker"], entry["ts"]) == (
        "Buy", "3393.2", True, sc.DIP)
    assert Decimal(entry["price"]) == Decimal(repr(round(sc.BLOCK_TOP, 1)))
    qty = Decimal(entry["qty"])
    # Size: the phase's 1.5 % risk per trade at the 1.5 % stop clamps Hunter's 2 %.
    assert qty == Decimal("2.94")
    px = Decimal(entry["price"])
    # Half closed once at 2R (R from the 1.5 % stop: 2R = +3 %), by Hunter, not the venue.
    assert (partial["side"], partial["kind"], Decimal(partial["qty"])) == ("Sell", "Order",
                                                                           qty / 2)
    assert px * Decimal("1.03") <= Decimal(partial["price"]) < px * Decimal("1.035")
    # The rest by the 3R target (+4.5 %) the entry carried.
    assert (target["kind"], Decimal(target["qty"])) == ("TakeProfit", qty / 2)
    assert Decimal(target["price"]) >= px * Decimal("1.045")
    assert Decimal(r["net_pnl"]) > 0
    pub = r["events_published"]
    assert (pub["HUNTER_SIGNAL"], pub["HUNTER_ENTRY"]) == (1, 2)  # sent, then FILLED
    assert pub["HUNTER_EXIT"] >= 3  # break-even, partial, closed at least
    assert r["orders"]["sent"] == 2 and r["orders"]["rejected_by_venue"] == {}


def test_without_order_flow_confirmation_hunter_sends_nothing(
        tmp_path: Path) -> None:
    r = _run(tmp_path, flow=False)
    assert r["trades"] == 0 and r["orders"]["sent"] == 0
    pub = r["events_published"]
    assert "HUNTER_SIGNAL" not in pub and pub["HUNTER_SKIP"] >= 1


def test_an_entry_the_price_never_comes_back_to_is_cancelled_after_60_s(
        tmp_path: Path) -> None:
    """The price 0.3 % above the resting buy for more than 60 s: HUNTER_CANCEL, no trade,
    no order left working (the run ends with nothing to close)."""
    r = _run(tmp_path, dip=False)
    pub = r["events_published"]
    assert (pub["HUNTER_SIGNAL"], pub["HUNTER_ENTRY"], pub["HUNTER_CANCEL"]) == (1, 1, 1)
    assert r["trades"] == 0 and r["orders"]["sent"] == 1
    assert "HUNTER_EXIT" not in pub


def test_in_phase_1_hunter_scans_but_does_not_trade(
        tmp_path: Path) -> None:
    """$2,000 of equity is phase 1; Hunter runs in phase 2 only: the same market, no
    signal, nothing sent."""
    r = _run(tmp_path, balance="2000")
    pub = r["events_published"]
    assert pub["HUNTER_SCAN"] >= 1 and "HUNTER_SIGNAL" not in pub
    assert r["trades"] == 0 and r["orders"]["sent"] == 0
