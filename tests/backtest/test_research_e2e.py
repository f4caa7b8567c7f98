"""A backtest started over the API runs in its own process while Titan runs (paper
profile), shows its progress and headline figures, and the console's Research tab lists
it and opens its report — in Debian's chromium. Screenshots in test-artifacts/backtest/."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backtest import scenario as sc
from tests.backtest.conftest import make_data
from tests.helpers import PASSWORD, USER, auth_header, free_port, start_titan, titan_env, wait_http
from titan.backtest.report import iso_ms

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "backtest"

if not CHROMIUM.exists():  # scripts/test installs it (ensure_apt chromium chromium)
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **auth_header()})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def titan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("research")
    data = make_data(root / "data")
    port = free_port()
    log = root / "titan.log"
    # The scenario is in the store as imported data: the recorder's retention keeps it.
    env = titan_env(data, port, PYTHONPATH=str(ROOT))
    proc = start_titan(["run"], env, log)
    try:
        deadline = time.monotonic() + 60
        while "SYSTEM_STARTED" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        assert wait_http(f"{url}/health", proc=proc) in (200, 503)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_api_run_and_research_tab(titan: str) -> None:
    body = {"strategy": "scavenger", "symbols": [sc.SYMBOL], "start": iso_ms(sc.START),
            "end": iso_ms(sc.END)}
    status, run = call(f"{titan}/api/backtests", "POST", body)
    assert status == 202, run
    assert run["status"] == "running" and 0 <= run["progress"] <= 100
    seen_progress = {run["progress"]}
    deadline = time.monotonic() + 90
    while run["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
        status, run = call(f"{titan}/api/backtests/{run['id']}")
        assert status == 200
        seen_progress.add(run["progress"])
    assert run["status"] == "done", run
    assert run["progress"] == 100.0
    assert run["results"]["trades"] == 1
    assert run["results"]["net_pnl"] == "123.14318330"  # the CLI test's figure, to the digit
    status, listing = call(f"{titan}/api/backtests")
    assert status == 200 and listing["backtests"][0]["id"] == run["id"]
    # Bad requests: an unknown strategy fails in its process (exit 2, the reason kept);
    # a malformed body is refused before anything starts.
    status, bad = call(f"{titan}/api/backtests", "POST", {**body, "strategy": "nosuch"})
    assert status == 202
    while bad["status"] == "running":
        time.sleep(0.2)
        _, bad = call(f"{titan}/api/backtests/{bad['id']}")
    assert bad["status"] == "failed" and bad["exitCode"] == 2
    assert "unknown strategy 'nosuch'" in bad["error"]
    status, _ = call(f"{titan}/api/backtests", "POST", {**body, "symbols": []})
    assert status == 422
    assert call(f"{titan}/api/backtests/nonexistent")[0] == 404

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                          viewport={"width": 1366, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_default_timeout(15_000)
            page.goto(f"{titan}/")
            page.click("#tab-research")
            row = page.locator(f'#backtests tr[data-run="{run["id"]}"]')
            row.wait_for()
            text = row.inner_text()
            assert "scavenger" in text and sc.SYMBOL in text and "done" in text
            assert "123.14318330" in text and "100.0 %" in text
            failed = page.locator(f'#backtests tr[data-run="{bad["id"]}"]')
            assert "failed" in failed.inner_text()
            page.screenshot(path=str(ARTIFACTS / "research-tab.png"), full_page=True)
            with context.expect_page() as new:
                row.locator("a", has_text="open report").click()
            report = new.value
            report.wait_for_selector("#chart-0 .main-svg")
            assert "123.14318330" in report.inner_text("#headline")
            report.screenshot(path=str(ARTIFACTS / "research-report.png"))
            assert not errors, errors
            assert re.search(r"Research", page.inner_text(".tabs"))
        finally:
            browser.close()
