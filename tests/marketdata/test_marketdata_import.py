"""`titan data import` and `titan data list` (SPEC §15): Binance aggTrades and klines
dumps (zipped or not, with or without header, ms or µs timestamps) and Bybit trade
history files; all or nothing, never twice. The files are built here in the formats
data.binance.vision and public.bybit.com publish; the real CLI entry point runs them."""

from __future__ import annotations

import gzip
import itertools
import os
import uuid
import zipfile
from pathlib import Path

import pytest

from titan.cli import main
from titan.marketdata.store import MarketDataStore

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time," \
             "is_buyer_maker\n"
KLINE_HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count," \
               "taker_buy_volume,taker_buy_quote_volume,ignore\n"
BYBIT_HEADER = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue," \
               "homeNotional,foreignNotional\n"


@pytest.fixture
def store(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> MarketDataStore:
    for key in [k for k in os.environ if k.startswith("TITAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TITAN_DATA_DIR", str(data_dir))
    monkeypatch.chdir(data_dir)  # no .env of the developer's is read
    return MarketDataStore(data_dir / "marketdata")


def agg_rows(first_id: int, n: int, t0: int = T0, micros: bool = False,
             best_match: bool = True) -> str:
    out = []
    for i in range(n):
        ts = t0 + i * 250
        ts_text = str(ts * 1000 if micros else ts)
        row = [str(first_id + i), f"{42000 + i * 0.5:.2f}", f"{0.001 * (i + 1):.6f}",
               str(first_id * 3 + i), str(first_id * 3 + i), ts_text,
               "True" if i % 3 == 0 else "False"]
        if best_match:
            row.append("True")
        out.append(",".join(row))
    return "\n".join(out) + "\n"


def kline_rows(n: int, minutes: int, t0: int = T0, micros: bool = False) -> str:
    out = []
    scale = 1000 if micros else 1
    for i in range(n):
        start = t0 + i * minutes * 60_000
        o, c = 100 + i, 101 + i
        out.append(",".join(str(v) for v in (
            start * scale, f"{o}.0", f"{c + 1}.5", f"{o - 1}.5", f"{c}.0", f"{10 + i}.25",
            (start + minutes * 60_000 - 1) * scale, "1234.5", 17, "5.0", "600.0", 0)))
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> Path:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.with_suffix(".csv").name, text)
    elif path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def data_files(store: MarketDataStore) -> list[Path]:
    return sorted(store.root.rglob("*.parquet")) if store.root.exists() else []


def test_binance_aggtrades_zipped_and_plain_with_and_without_header(
        store: MarketDataStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day2 = T0 + 86_400_000
    zipped = write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.zip", agg_rows(1000, 40))
    # The newer spot dumps: a header, microsecond timestamps, no is_best_match column.
    plain = write(tmp_path / "BTCUSDT-aggTrades-2024-01-02.csv",
                  AGG_HEADER + agg_rows(1040, 30, t0=day2, micros=True, best_match=False))
    assert main(["data", "import", str(zipped), str(plain)]) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT-aggTrades-2024-01-01.zip: binance BTCUSDT trades: 40 rows, 40 new" in out

    trades = list(store.iter_trades("binance", "BTCUSDT", T0, day2 + 86_400_000))
    assert [t.trade_id for t in trades] == list(range(1000, 1070))
    assert trades[0].ts_ms == T0 and trades[0].price == 42000.0 and trades[0].qty == 0.001
    assert trades[0].buyer_is_maker is True and trades[1].buyer_is_maker is False
    assert trades[40].ts_ms == day2  # µs → ms
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(trades))
    # Half-open ranges: the first day alone.
    assert len(list(store.iter_trades("binance", "BTCUSDT", T0, day2))) == 40
    (row,) = store.inventory()
    assert (row.venue, row.symbol, row.kind, row.rows) == ("binance", "BTCUSDT", "trades", 70)
    assert (row.first_ms, row.last_ms) == (T0, day2 + 29 * 250)


def test_binance_klines_zipped_with_header_and_plain_without(
        store: MarketDataStore, tmp_path: Path) -> None:
    one = write(tmp_path / "ETHUSDT-1m-2024-01-01.zip", KLINE_HEADER + kline_rows(90, 1))
    hourly = write(tmp_path / "ETHUSDT-1h-2024-01-01.csv", kline_rows(24, 60, micros=True))
    assert main(["data", "import", str(one), str(hourly)]) == 0
    minutes = list(store.iter_klines("binance", "ETHUSDT", 1, T0, T0 + 86_400_000))
    hours = list(store.iter_klines("binance", "ETHUSDT", 60, T0, T0 + 86_400_000))
    assert [k.start_ms for k in minutes] == [T0 + i * 60_000 for i in range(90)]
    assert [k.start_ms for k in hours] == [T0 + i * 3_600_000 for i in range(24)]
    k = minutes[3]
    assert (k.open, k.high, k.low, k.close, k.volume) == (103.0, 105.5, 102.5, 104.0, 13.25)


def test_the_same_file_twice_stores_nothing_twice(
        store: MarketDataStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades = write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.zip", agg_rows(1, 50))
    klines = write(tmp_path / "BTCUSDT-1m-2024-01-01.csv", kline_rows(30, 1))
    assert main(["data", "import", str(trades), str(klines)]) == 0
    files = data_files(store)
    capsys.readouterr()
    assert main(["data", "import", str(trades), str(klines)]) == 0
    out = capsys.readouterr().out
    assert "50 rows, 0 new, 50 already stored" in out and "30 rows, 0 new" in out
    assert data_files(store) == files  # not even an empty part file
    # A later file overlapping the first: only its new trades are added.
    more = write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", agg_rows(41, 20, t0=T0 + 40 * 250))
    assert main(["data", "import", str(more)]) == 0
    assert "20 rows, 10 new, 10 already stored" in capsys.readouterr().out
    ids = [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", T0, T0 + 86_400_000)]
    assert ids == list(range(1, 61))
    rows = {r.kind: r.rows for r in store.inventory()}
    assert rows == {"trades": 60, "klines": 30}


def test_bad_files_are_refused_naming_file_and_line_and_nothing_is_stored(
        store: MarketDataStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", agg_rows(1, 20))
    # A download cut short: the zip's central directory is gone.
    whole = write(tmp_path / "whole.zip", agg_rows(100, 500)).read_bytes()
    cut_zip = tmp_path / "BTCUSDT-aggTrades-2024-01-02.zip"
    cut_zip.write_bytes(whole[: len(whole) // 2])
    # A CSV cut mid-line: its last line has too few columns.
    text = AGG_HEADER + agg_rows(1, 12)
    cut_csv = write(tmp_path / "SOLUSDT-aggTrades-2024-01-01.csv",
                    text[: text.rindex("\n", 0, len(text) - 1) + 9])  # "12,42005"
    # The wrong shape: a klines file under an aggTrades name.
    shape = write(tmp_path / "ETHUSDT-aggTrades-2024-01-01.csv", kline_rows(5, 1))
    # A value that is not a number on line 4.
    rows = agg_rows(1, 6).splitlines()
    rows[3] = rows[3].replace("42001.50", "42O01.50")
    bad_num = write(tmp_path / "ADAUSDT-aggTrades-2024-01-01.csv", "\n".join(rows) + "\n")
    # A truncated gzip.
    gz = gzip.compress((BYBIT_HEADER + bybit_rows(200)).encode())
    cut_gz = tmp_path / "BTCUSDT2024-01-01.csv.gz"
    cut_gz.write_bytes(gz[: len(gz) - 40])

    expected = {cut_zip: "BTCUSDT-aggTrades-2024-01-02.zip: unreadable (BadZipFile",
                cut_csv: "SOLUSDT-aggTrades-2024-01-01.csv, line 13: 2 columns",
                shape: "ETHUSDT-aggTrades-2024-01-01.csv, line 1: 12 columns, a "
                       "binance-aggtrades file has 7 or 8",
                bad_num: "ADAUSDT-aggTrades-2024-01-01.csv, line 4: could not convert",
                cut_gz: "BTCUSDT2024-01-01.csv.gz, line"}
    for bad, message in expected.items():
        # The good file first: an import is all or nothing, so it is not stored either.
        assert main(["data", "import", str(good), str(bad)]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and "nothing was imported" in err, err
        assert data_files(store) == []
        assert store.inventory() == []
    assert main(["data", "import", str(good)]) == 0  # the good one alone is fine


def test_unknown_names_need_the_flags(store: MarketDataStore, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    odd = write(tmp_path / "download (3).csv", agg_rows(7, 5))
    assert main(["data", "import", str(odd)]) == 2
    assert "give --symbol, --venue and --kind" in capsys.readouterr().err
    assert main(["data", "import", str(odd), "--symbol", "xrpusdt", "--venue",
                 "binance-futures", "--kind", "trades"]) == 0
    (row,) = store.inventory()
    assert (row.venue, row.symbol, row.rows) == ("binance-futures", "XRPUSDT", 5)
    klines = write(tmp_path / "bars.csv", kline_rows(4, 5))
    assert main(["data", "import", str(klines), "--symbol", "XRPUSDT", "--venue", "binance",
                 "--kind", "klines", "--interval", "1s"]) == 2
    assert "kline interval '1s'" in capsys.readouterr().err
    assert main(["data", "import", str(klines), "--symbol", "XRPUSDT", "--venue", "binance",
                 "--kind", "klines", "--interval", "5m"]) == 0
    assert len(list(store.iter_klines("binance", "XRPUSDT", 5, T0, T0 + 3_600_000))) == 4


def bybit_rows(n: int, t0_s: float = T0 / 1000) -> str:
    out = []
    for i in range(n):
        ts = t0_s + i * 0.125
        side = "Buy" if i % 2 == 0 else "Sell"
        out.append(",".join([f"{ts:.4f}", "BTCUSDT", side, f"{0.01 * (i + 1):.3f}",
                             f"{42000 + i:.1f}", "ZeroPlusTick",
                             str(uuid.uuid5(uuid.NAMESPACE_OID, f"t{i}")), "42000000000",
                             "0.01", "420"]))
    return "\n".join(out) + "\n"


def test_bybit_trade_history_file(store: MarketDataStore, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "BTCUSDT2024-01-01.csv.gz", BYBIT_HEADER + bybit_rows(80))
    assert main(["data", "import", str(path)]) == 0
    trades = list(store.iter_trades("bybit", "BTCUSDT", T0, T0 + 86_400_000))
    assert len(trades) == 80 and len({t.trade_id for t in trades}) == 80
    assert [t.ts_ms for t in trades[:3]] == [T0, T0 + 125, T0 + 250]  # seconds → ms
    # side is the taker's: a Sell met a resting buy, so the buyer was the maker.
    assert [t.buyer_is_maker for t in trades[:2]] == [False, True]
    assert trades[1].qty == 0.02 and trades[1].price == 42001.0
    assert all(t.trade_id > 0 for t in trades)
    assert main(["data", "import", str(path)]) == 0  # twice: the match ids are stable
    assert "80 rows, 0 new" in capsys.readouterr().out
    assert store.inventory()[0].rows == 80


def test_data_list_prints_the_inventory(store: MarketDataStore, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    assert "no market data" in capsys.readouterr().out
    write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", agg_rows(1, 8))
    write(tmp_path / "BTCUSDT-1m-2024-01-01.csv", kline_rows(3, 1))
    assert main(["data", "import", str(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"),
                 str(tmp_path / "BTCUSDT-1m-2024-01-01.csv")]) == 0
    capsys.readouterr()
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SYMBOL", "VENUE", "KIND", "FIRST", "LAST", "ROWS", "GAPS"]
    assert lines[1].split() == ["BTCUSDT", "binance", "klines", "2024-01-01T00:00:00.000Z",
                                "2024-01-01T00:02:00.000Z", "3", "0"]
    assert lines[2].split() == ["BTCUSDT", "binance", "trades", "2024-01-01T00:00:00.000Z",
                                "2024-01-01T00:00:01.750Z", "8", "0"]


def test_a_file_of_more_rows_than_one_chunk(store: MarketDataStore, tmp_path: Path) -> None:
    from titan.marketdata.importer import CHUNK_ROWS

    n = CHUNK_ROWS + CHUNK_ROWS // 2 + 1
    path = write(tmp_path / "BTCUSDT-aggTrades-2024-01.zip", AGG_HEADER + agg_rows(1, n))
    assert main(["data", "import", str(path)]) == 0
    (row,) = store.inventory()
    assert row.rows == n and row.last_ms == T0 + (n - 1) * 250
    ids = [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", T0, T0 + 2 * 86_400_000)]
    assert ids == list(range(1, n + 1))


def test_retention_never_deletes_imported_days(store: MarketDataStore, tmp_path: Path) -> None:
    # An imported day and a recorded day, both far past the retention; and a recorded
    # trade on the imported day (the recorder ran that day too).
    f = write(tmp_path / "BTCUSDT-aggTrades-2024-01-01.zip", agg_rows(1, 4))
    assert main(["data", "import", str(f)]) == 0
    import pyarrow as pa

    def one(ts: int, tid: int) -> pa.Table:
        return pa.table({"ts_ms": [ts], "trade_id": [tid], "price": [1.0], "qty": [1.0],
                         "buyer_is_maker": [True]})

    store.append("binance", "BTCUSDT", "trades", one(T0 + 5_000, 10_000))  # recorded
    store.append("binance", "BTCUSDT", "trades", one(T0 + 86_400_000, 10_001))  # 01-02
    assert store.imported_days("binance", "BTCUSDT", "trades") == ["2024-01-01"]
    removed = store.prune(30, T0 + 400 * 86_400_000)  # a year later
    assert removed == 1  # 2024-01-02's recorded part only
    ids = [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", 0, 2**62)]
    assert ids == [1, 2, 3, 4, 10_000]  # the imported day kept whole
    # Importing the same file again (nothing new) still marks its day, and compaction
    # keeps the mark.
    assert store.compact("binance", "BTCUSDT", "trades", "2024-01-01")
    assert main(["data", "import", str(f)]) == 0
    assert store.prune(30, T0 + 400 * 86_400_000) == 0
    assert store.imported_days("binance", "BTCUSDT", "trades") == ["2024-01-01"]
