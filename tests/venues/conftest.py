"""Shared fixtures for the venue adapter tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "testnet: runs against the real Bybit testnet; opt-in with TITAN_TESTNET_BYBIT_API_KEY/_SECRET",
    )
