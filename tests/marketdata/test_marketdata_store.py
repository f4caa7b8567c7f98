"""The market-data store's own rules: partitioned by venue/symbol/kind/UTC day, append
never rewrites a file, records written twice are read once (the last write winning),
reads are in time order and half-open, compaction keeps every record, retention prunes
whole days, a crashed write's temporary file is never read."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from titan.marketdata.store import DAY_MS, MarketDataStore
from titan.settings import Settings

T0 = 1_704_067_200_000  # 2024-01-01


def trades(ids: list[int], times: list[int]) -> pa.Table:
    return pa.table({"ts_ms": times, "trade_id": ids, "price": [100.0 + i for i in ids],
                     "qty": [1.0] * len(ids), "buyer_is_maker": [i % 2 == 0 for i in ids]})


def test_layout_append_only_and_read_once_in_time_order(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    # Across a day boundary, out of order.
    assert store.append("binance", "btcusdt", "trades",
                        trades([3, 1, 2], [T0 + DAY_MS + 5, T0 + 10, T0 + DAY_MS - 1])) == 3
    folder = tmp_path / "binance" / "BTCUSDT" / "trades"
    first = sorted(p.name for p in folder.iterdir())
    assert [n[:10] for n in first] == ["2024-01-01", "2024-01-02"]
    before = {p: p.read_bytes() for p in folder.iterdir()}
    # The same trades again (a reconnect's overlap), and one new.
    store.append("binance", "BTCUSDT", "trades", trades([2, 3, 4], [T0 + DAY_MS - 1,
                                                                   T0 + DAY_MS + 5, T0 + 20]))
    assert all(p.read_bytes() == b for p, b in before.items())  # never rewritten
    got = list(store.iter_trades("binance", "BTCUSDT", T0, T0 + 2 * DAY_MS))
    assert [(t.trade_id, t.ts_ms) for t in got] == [(1, T0 + 10), (4, T0 + 20),
                                                    (2, T0 + DAY_MS - 1), (3, T0 + DAY_MS + 5)]
    assert [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", T0 + 20,
                                                  T0 + DAY_MS - 1)] == [4]
    batches = list(store.read("binance", "BTCUSDT", "trades", T0, T0 + 2 * DAY_MS))
    assert all(b.schema.names == ["ts_ms", "trade_id", "price", "qty", "buyer_is_maker"]
               for b in batches)
    assert store.inventory()[0].rows == 4
    # A crashed write's leftover is not data.
    (folder / ".tmp-deadbeef.parquet").write_bytes(b"PAR1 half a file")
    assert len(list(store.iter_trades("binance", "BTCUSDT", T0, T0 + 2 * DAY_MS))) == 4


def test_the_last_written_record_wins_and_compaction_keeps_every_record(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    gap = {"start_ms": [T0 + 1000], "end_ms": [T0 + 5000], "reason": ["trades stream: lost"]}
    store.append("binance", "BTCUSDT", "gaps", pa.table({**gap, "backfilled": [False]}))
    store.append("binance", "BTCUSDT", "trades", trades([1, 2], [T0, T0 + 6000]))
    store.append("binance", "BTCUSDT", "gaps", pa.table({**gap, "backfilled": [True]}))
    store.append("binance", "BTCUSDT", "trades", trades([5], [T0 + 3000]))
    (row,) = store.inventory()
    assert (row.gaps, row.backfilled) == (1, 1)
    assert store.compact_before("2024-01-02") == 2  # trades and gaps of 2024-01-01
    names = sorted(p.name for p in (tmp_path / "binance" / "BTCUSDT").rglob("*.parquet"))
    assert names == ["2024-01-01.parquet", "2024-01-01.parquet"]
    assert [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", T0, T0 + DAY_MS)] == \
        [1, 5, 2]
    (gap_row,) = [g for b in store.read("binance", "BTCUSDT", "gaps", T0, T0 + DAY_MS)
                  for g in b.to_pylist()]
    assert gap_row["backfilled"] is True


def test_prune_removes_days_past_the_retention(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    for day in range(5):
        store.append("bybit", "ETHUSDT", "tickers", pa.table({
            "ts_ms": [T0 + day * DAY_MS + 1], "last_price": [2000.0 + day],
            "bid": [None], "ask": [2001.0]}))
    size = store.size_bytes()
    assert size > 0
    now = T0 + 4 * DAY_MS + 3_600_000  # 2024-01-05 01:00
    assert store.prune(2, now) == 2  # 01-01 and 01-02 ended more than 2 days ago
    (row,) = store.inventory()
    assert (row.first_ms, row.last_ms, row.rows) == (T0 + 2 * DAY_MS + 1, T0 + 4 * DAY_MS + 1, 3)
    assert store.size_bytes() < size
    assert store.prune(2, now) == 0
    assert store.prune(1, now + 10 * DAY_MS) == 3 and store.inventory() == []
    assert not (tmp_path / "bybit").exists()  # empty folders go too


def test_bad_input_is_refused(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    with pytest.raises(ValueError, match="unknown market-data kind"):
        store.append("binance", "BTCUSDT", "orders", trades([1], [T0]))
    with pytest.raises(ValueError, match="missing column"):
        store.append("binance", "BTCUSDT", "trades", pa.table({"ts_ms": [T0]}))
    with pytest.raises(ValueError, match="not a venue or symbol"):
        store.append("../x", "BTCUSDT", "trades", trades([1], [T0]))
    assert store.size_bytes() == 0


def test_the_default_root_is_under_the_data_folder(tmp_path: Path) -> None:
    from titan.marketdata.store import default_root

    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert default_root(s) == tmp_path / "marketdata"
    assert s.record_marketdata is True and s.marketdata_retention_days == 30


def test_a_full_disk_refuses_the_append_whole_and_leaves_no_half_file(tmp_path: Path) -> None:
    """A real 2 MiB tmpfs, filled: the append fails, every record written before is still
    read, no temporary file is left taking space, and it works again once space is free."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (needs root): {done.stderr.strip() or done.returncode}")
    try:
        store = MarketDataStore(mnt / "marketdata")
        store.append("binance", "BTCUSDT", "trades", trades([1, 2], [T0, T0 + 1]))
        filler = mnt / "filler"
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 16, 1 << 10, 1):
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * size)
        ids = list(range(10, 50_010))
        with pytest.raises(OSError):
            store.append("binance", "BTCUSDT", "trades", trades(ids, [T0 + i for i in ids]))
        folder = mnt / "marketdata" / "binance" / "BTCUSDT" / "trades"
        assert list(folder.glob(".tmp-*")) == []
        assert [t.trade_id for t in store.iter_trades("binance", "BTCUSDT", T0, T0 + DAY_MS)] \
            == [1, 2]
        filler.unlink()
        assert store.append("binance", "BTCUSDT", "trades",
                            trades(ids, [T0 + i for i in ids])) == 50_000
        assert store.inventory()[0].rows == 50_002
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_the_recorder_writes_one_funding_row_per_settlement(tmp_path: Path) -> None:
    from decimal import Decimal

    from titan.marketdata.recorder import MarketDataRecorder
    from titan.venues.base import Ticker

    store = MarketDataStore(tmp_path)
    rec = MarketDataRecorder(store, retention_days=30, now_ms=lambda: T0)
    rec.start()
    sink = rec.ticker_sink("bybit")
    nxt = T0 + 8 * 3_600_000

    def tick(ts: int, rate: str, next_ms: int) -> None:
        sink(Ticker("BTCUSDT", Decimal("42000"), ts, None, None, Decimal(rate), next_ms))

    tick(T0 + 1, "0.0001", nxt)  # the first: state only
    tick(T0 + 2, "0.00012", nxt)  # the predicted rate moves: nothing settled
    rec.flush()
    tick(nxt + 40, "0.00005", nxt + 8 * 3_600_000)  # the schedule moved on: settled
    tick(nxt + 50, "0.00005", nxt + 8 * 3_600_000)
    tick(nxt + 60, "0.00007", nxt + 8 * 3_600_000)
    rec.flush()
    rec.close()
    rows = [r for b in store.read("bybit", "BTCUSDT", "funding", 0, 2**62)
            for r in b.to_pylist()]
    assert rows == [{"ts_ms": nxt, "rate": 0.00012}]  # at its time, the last rate shown
