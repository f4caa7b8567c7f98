"""Market data for the backtest tests: the scenario, in a real market-data store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backtest import scenario as sc
from tests.backtest.store_data import write_klines, write_trades


def make_data(data_dir: Path) -> Path:
    root = data_dir / "marketdata"
    write_trades(root, "binance", sc.SYMBOL, sc.binance_trades())
    write_klines(root, "binance", sc.SYMBOL, 1, sc.minute_klines())
    return data_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data(tmp_path / "data")
