"""The morning briefing in a real browser (Debian's chromium) against `titan run`: an AI
Quant run over a journal and recorded data (tests/quant/scenario.py) where `minTrades` is
plainly bad; the Overview shows the insights and the proposal with both equity curves;
cancelling the confirmation changes nothing, confirming makes one config version; a
second proposal is rejected with a reason (required). Screenshot in test-artifacts/console/."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PASSWORD, USER, auth_header, free_port, start_titan, titan_env, wait_http
from tests.quant import scenario as sc
from titan.backtest.report import iso_ms

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

if not CHROMIUM.exists():  # scripts/test installs it (ensure_apt chromium chromium)
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


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
def titan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("quant-e2e")
    data = sc.write(root / "data")
    port = free_port()
    log = root / "titan.log"
    # the recorded data is from 2025: kept (the recorder's retention would delete it)
    env = titan_env(data, port, TITAN_MARKETDATA_RETENTION_DAYS="3650",
                    TITAN_RECORD_MARKETDATA="false")
    proc = start_titan(["run"], env, log)
    try:
        deadline = time.monotonic() + 60
        while "SYSTEM_STARTED" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        assert wait_http(f"{url}/health", proc=proc) in (200, 503)
        yield url, data
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def add_journal(db: Path) -> None:
    """Six closed trades yesterday (UTC), four of them losses."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    con = sqlite3.connect(db)
    with con:
        for i, pnl in enumerate(["-3", "-2", "4", "-1", "-5", "2"]):
            opened = day + timedelta(hours=3, minutes=i)
            con.execute(
                "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
                " net_pnl, strategy, close_reason, opened_at, closed_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (sc.SYMBOL, "Buy", "1", "150", "151", pnl, "0", pnl, "scavenger", "x",
                 opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 (opened + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    con.close()


def test_briefing_shows_the_proposal_and_approve_reject_with_confirmation(
        titan: tuple[str, Path]) -> None:
    url, data = titan
    add_journal(data / "titan.db")
    status, _ = call(f"{url}/api/strategies/scavenger", "POST",
                     {"params": {"minTrades": 12}, "reason": "plainly bad"})
    assert status == 200
    body = {"params": ["scavenger.minTrades"], "trials": 6, "minTrades": 1,
            "symbols": [sc.SYMBOL],
            "train": {"start": iso_ms(sc.TRAIN[0]), "end": iso_ms(sc.TRAIN[1])},
            "holdout": {"start": iso_ms(sc.HOLDOUT[0]), "end": iso_ms(sc.HOLDOUT[1])}}
    status, run = call(f"{url}/api/quant/run", "POST", body)
    assert status == 202, run
    deadline = time.monotonic() + 120
    while run["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.3)
        run = call(f"{url}/api/quant/runs/{run['id']}")[1]
    assert run["status"] == "done", run
    _, b = call(f"{url}/api/quant/briefing")
    assert len(b["proposals"]) == 1, run
    (p,) = b["proposals"]
    # a second proposal to reject: a copy of the first with another value
    con = sqlite3.connect(data / "titan.db")
    with con:
        cur = con.execute(
            "INSERT INTO quant_proposals(run_id, created_at, config_version, strategy, changes,"
            " active_figures, candidate_figures, evidence) SELECT run_id, created_at,"
            " config_version, strategy, ?, active_figures, candidate_figures, evidence"
            " FROM quant_proposals WHERE id = ?",
            (json.dumps({"scavenger.minTrades": {"from": 12, "to": 33}}), p["id"]))
        second = cur.lastrowid
    con.close()
    _, versions = call(f"{url}/api/config/versions")
    before = versions["total"]

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
            page.goto(f"{url}/")
            card = page.locator(f'#quant-proposals [data-proposal="{p["id"]}"]')
            card.wait_for()
            change = p["changes"]["scavenger.minTrades"]
            assert f"scavenger.minTrades: 12 → {change['to']}" in card.inner_text()
            expect(page.locator("#quant-insights li[data-kind]").first).to_be_visible()
            assert "Yesterday" in page.inner_text("#quant-yesterday")
            # both equity curves drawn: lightweight-charts paints on canvases
            assert card.locator(".quant-chart canvas").count() >= 1
            card.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "briefing.png"), full_page=True)

            other = page.locator(f'#quant-proposals [data-proposal="{second}"]')
            other.locator('[data-action="reject"]').click()
            page.click("#dlg-ok")  # no reason: the dialog refuses and stays open
            expect(page.locator("#dlg")).to_be_visible()
            page.fill("#dlg-input", "not this one")
            page.click("#dlg-ok")
            expect(other.locator(".pill")).to_have_text("rejected")

            card.locator('[data-action="approve"]').click()
            expect(page.locator("#dlg")).to_be_visible()
            page.click("#dlg-cancel")  # cancelled: nothing changes
            assert call(f"{url}/api/config/versions")[1]["total"] == before
            card.locator('[data-action="approve"]').click()
            page.fill("#dlg-input", "from the browser")
            page.click("#dlg-ok")
            expect(card.locator(".pill")).to_have_text("approved")
            assert call(f"{url}/api/config/versions")[1]["total"] == before + 1
            assert card.locator('[data-action="approve"]').count() == 0
            assert not errors, errors
        finally:
            browser.close()
    _, listing = call(f"{url}/api/config/versions")
    assert listing["items"][0]["reason"] == (
        f"AI Quant proposal #{p['id']} approved: from the browser")
    _, out = call(f"{url}/api/quant/briefing")
    assert [(q["id"], q["status"], q["reject_reason"]) for q in out["proposals"]] == [
        (second, "rejected", "not this one"), (p["id"], "approved", "from the browser")]
