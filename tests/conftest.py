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


# The longest test files, longest first (measured: docs/testing.md). Under pytest-xdist
# (--dist loadfile --no-loadscope-reorder) they are handed out before the rest, so no worker is still busy with a two-minute test while the
# others have finished: the short tests fill in around them. Order only, never selection;
# a file missing here only starts later. Serial runs keep the collection order.
SLOW_FIRST = (
    "tests/state/test_crash.py",
    "tests/ops/test_pm2.py",
    "tests/ops/test_ops_scripts.py",
    "tests/ops/test_backup.py",
    "tests/api/test_openapi_schemathesis.py",
    "tests/e2e/test_console_notify.py",
    "tests/e2e/test_console_hunter.py",
    "tests/e2e/test_console.py",
    "tests/integration/test_process.py",
    "tests/api/test_cli_client.py",
    "tests/test_ci_skip_rule.py",
    "tests/state/test_out_of_band.py",
    "tests/integration/test_scavenger_paper.py",
    "tests/risk/test_risk_stateful.py",
    "tests/backtest/test_research_e2e.py",
    "tests/reliability/test_interrupted_action.py",
    "tests/integration/test_scavenger_platform.py",
    "tests/backtest/test_hunter_sim_history.py",
    "tests/bench/test_bench_smoke.py",
    "tests/security/test_process_hardening.py",
    "tests/integration/test_trading_api.py",
    "tests/api/test_manual_curls_trading.py",
    "tests/api/test_manual_curls.py",
    "tests/marketdata/test_marketdata_recorder.py",
    "tests/ops/test_nginx.py",
    "tests/ops/test_prometheus.py",
    "tests/notify/test_notify_cli.py",
    "tests/backtest/test_hunter_backtest.py",
    "tests/reliability/test_disk_full.py",
)


def _slow_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every worker sorts the same collection the same way (a stable sort), as xdist
        # requires; the controller hands the tests out in this order.
        items.sort(key=_slow_rank)
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
