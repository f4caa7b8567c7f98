"""Market data on disk for the backtest tests: the scenario, in the store's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backtest import scenario as sc
from tests.backtest.fixture_store import CLASS_PATH, write_klines, write_trades
from titan.backtest.cli import STORE_ENV


def make_data(data_dir: Path) -> Path:
    root = data_dir / "marketdata"
    write_trades(root, "binance", sc.SYMBOL, sc.binance_trades())
    write_klines(root, "binance", sc.SYMBOL, 1, sc.minute_klines())
    return data_dir


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STORE_ENV, CLASS_PATH)
    return make_data(tmp_path / "data")
