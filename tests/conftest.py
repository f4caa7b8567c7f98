"""Shared fixtures and the CI rule: in CI a test never skips silently.

With CI=true every skip is turned into a failure: a skip inside a test and a skip at
collection time (`pytest.skip(allow_module_level=True)`, `pytest.importorskip`) alike. Tests that talk to real venue testnets
are not collected unless their keys are set; pytest reports them as deselected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import helpers

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HAVE_TESTNET_KEYS = bool(os.environ.get("TITAN_TESTNET_BYBIT_API_KEY"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "testnet: talks to a real venue testnet (needs keys)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_TESTNET_KEYS:
        return
    keep, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("testnet") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    # A module that skips itself at import is reported here, not by runtest_makereport:
    # without this a missing browser would skip a whole suite silently in CI.
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped at collection in CI, which counts as a failure: {reason}"


@pytest.fixture
def free_port() -> int:
    return helpers.free_port()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d
