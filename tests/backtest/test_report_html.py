"""report.html opens in a real browser (Debian's chromium, no server: a file:// URL) and
shows the headline, the charts and the trade; the screenshot goes to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backtest import scenario as sc
from titan.backtest.report import iso_ms
from titan.cli import main

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "backtest"

if not CHROMIUM.exists():  # scripts/test installs it (ensure_apt chromium chromium)
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")


def test_report_opens_without_a_server(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["backtest", "--strategy", "scavenger", "--symbols", sc.SYMBOL,
                 "--start", str(iso_ms(sc.START)), "--end", str(iso_ms(sc.END)),
                 "--data", str(data_dir), "--out", str(out)]) == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out / "report.html").as_uri())
            page.wait_for_selector("#chart-0 .main-svg")  # plotly drew the equity chart
            page.wait_for_selector("#chart-1 .main-svg")  # and the price with the trades
            headline = page.inner_text("#headline")
            assert "123.14318330" in headline  # net_pnl
            assert "TakeProfit" in page.inner_text("table.trades")
            assert "daily_level" in page.inner_text("table.breakdown >> nth=1")
            # Two markers (entry, exit) on the price chart.
            assert page.locator("#chart-1 .scatterlayer .point").count() >= 2
            assert all(u.startswith("file://") for u in requests), requests
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
