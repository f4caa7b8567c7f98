"""From Binance's public dumps to a backtest (SPEC §15): the scenario's trades and
klines written as data.binance.vision publishes them — zipped daily CSVs, spot aggTrades
without a header and stamped in microseconds (spot since 2025), klines with the header
row — imported by `titan data import`, then `titan backtest --strategy scavenger` over
them: the daily-high trap springs, the entry fills and the target closes it, fill, fees
and PnL to the digit (the same figures as over the hand-written store)."""

from __future__ import annotations

import json
import os
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.backtest import scenario as sc
from titan.backtest.report import iso_ms
from titan.cli import main
from titan.marketdata.store import MarketDataStore
from titan.venues.base import Kline

FEE = Decimal("0.00055")  # the simulator's taker fee (Bybit's)
Q = Decimal("0.00000001")
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")


def _zip(path: Path, lines: list[str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


def _kline_line(k: Kline) -> str:
    f = "{:.8f}".format
    return ",".join([str(k.start_ms), f(k.open), f(k.high), f(k.low), f(k.close),
                     f(k.volume), str(k.start_ms + 59_999), f(k.close * k.volume), "10",
                     f(k.volume / 2), f(k.close * k.volume / 2), "0"])


def dumps(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    trades = [",".join([str(t.trade_id), f"{t.price:.8f}", f"{t.qty:.8f}", str(t.trade_id * 2),
                        str(t.trade_id * 2 + 1), str(t.ts_ms * 1000),
                        "True" if t.buyer_is_maker else "False", "True"])
              for t in sc.binance_trades()]
    files = [_zip(folder / f"{sc.SYMBOL}-aggTrades-2025-03-11.zip", trades)]
    bars = sc.minute_klines()
    for day, name in ((sc.DAY0, "2025-03-10"), (sc.DAY1, "2025-03-11")):
        lines = [KLINE_HEADER] + [_kline_line(k) for k in bars
                                  if day <= k.start_ms < day + 86_400_000]
        files.append(_zip(folder / f"{sc.SYMBOL}-1m-{name}.zip", lines))
    return files


def test_binance_dumps_imported_then_backtested_to_the_digit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    for key in [k for k in os.environ if k.startswith("TITAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TITAN_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)  # no developer's .env is read
    assert main(["data", "import", *map(str, dumps(tmp_path / "dumps"))]) == 0
    store = MarketDataStore(data / "marketdata")
    rows = {(r.venue, r.kind): r.rows for r in store.inventory()}
    assert rows == {("binance", "klines"): len(sc.minute_klines()),
                    ("binance", "trades"): len(sc.binance_trades())}
    out = tmp_path / "run"
    assert main(["backtest", "--strategy", "scavenger", "--symbols", sc.SYMBOL,
                 "--start", str(iso_ms(sc.START)), "--end", str(iso_ms(sc.END)),
                 "--data", str(data), "--out", str(out)]) == 0
    r: dict[str, Any] = json.loads((out / "report.json").read_text())
    (trade,) = r["trade_list"]
    assert trade["openedMs"] == sc.SPRING + 50 + 200  # the spring's next tick + 200 ms
    assert (trade["side"], trade["signalKind"], trade["exitReason"]) == (
        "long", "daily_level", "TakeProfit")
    entry, exit_ = trade["fills"]
    assert (entry["side"], entry["price"], entry["qty"], entry["maker"]) == (
        "Buy", "152.000", "26.2", False)
    assert (exit_["side"], exit_["price"], exit_["kind"]) == ("Sell", "156.870", "TakeProfit")
    qty = Decimal("26.2")
    fee_in = (Decimal("152.000") * qty * FEE).quantize(Q, ROUND_HALF_UP)
    fee_out = (Decimal("156.870") * qty * FEE).quantize(Q, ROUND_HALF_UP)
    gross = (Decimal("156.870") - Decimal("152.000")) * qty
    assert (entry["fee"], exit_["fee"]) == ("2.19032000", "2.26049670") == (
        str(fee_in), str(fee_out))
    assert (r["net_pnl"], r["gross_pnl"], r["fees"], r["funding"]) == (
        "123.14318330", "127.59400000", "4.45081670", "0")
    assert Decimal(r["net_pnl"]) == gross - fee_in - fee_out
    assert r["data_range"]["rows"][f"binance/{sc.SYMBOL}/trades"] == len(sc.binance_trades())
