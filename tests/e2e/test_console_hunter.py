"""The console's Phase 2 tab in a real browser against `titan run` on the built-in
simulator: Hunter's state, its ranked map as the API has it, the recent decisions, and
its switch by phase showing at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_console import (  # the same server and page as the console's tests
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    expect,
    playwright_sync,
    tab,
)
from tests.helpers import PASSWORD, USER, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("console-hunter-e2e"), free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(server: Server) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        context = browser.new_context(
            http_credentials={"username": USER, "password": PASSWORD},
            viewport={"width": 1366, "height": 900})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(15_000)
        try:
            yield pg
        finally:
            context.close()
            browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def _hunter(server: Server) -> dict[str, Any]:
    status, body = server.api("GET", "/api/strategies/hunter")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def test_phase2_tab_shows_the_ranked_map_and_decisions_and_the_phase_switch(
        server: Server, page: Any) -> None:
    deadline = time.monotonic() + 60
    while _hunter(server)["lastScan"] is None:  # the scan at start
        assert time.monotonic() < deadline, "Hunter never scanned"
        time.sleep(0.5)
    body = _hunter(server)
    assert CHROMIUM.exists()
    page.goto(server.url + "/")
    tab(page, "phase2")
    # Titan starts in phase 1 (paper equity); Hunter runs in phase 2: paused, and why.
    expect(page.locator("#hunter-state")).to_contain_text("PAUSED")
    expect(page.locator("#hunter-state")).to_contain_text("phase")
    rows = page.locator("#hunter-ranked tr")
    if body["ranked"]:
        expect(rows).to_have_count(len(body["ranked"]))
        expect(rows.first.locator("td").first).to_have_text(body["ranked"][0]["symbol"])
    else:
        expect(rows.first).to_contain_text("Nothing ranked")
    expect(page.locator("#hunter-decisions")).to_contain_text("HUNTER_SCAN")
    expect(page.locator("#hunter-positions")).to_contain_text("No Hunter position")
    page.screenshot(path=str(ARTIFACTS / "3-phase2.png"), full_page=True)

    # Switched to run in phase 1: the tab shows it running within its 5-second refresh.
    status, answer = server.api("POST", "/api/strategies/hunter",
                                {"phases": [1, 2], "reason": "e2e"})
    assert status == 200, answer
    expect(page.locator("#hunter-state")).to_contain_text("RUNNING", timeout=15_000)
    status, answer = server.api("POST", "/api/strategies/hunter",
                                {"phases": [2], "reason": "e2e back"})
    assert status == 200, answer
    expect(page.locator("#hunter-state")).to_contain_text("PAUSED", timeout=15_000)


def test_phase3_tab_shows_sentinel_not_trading_and_the_spot_leg(server: Server,
                                                                  page: Any) -> None:
    status, body = server.api("GET", "/api/strategies/sentinel")
    assert status == 200 and isinstance(body, dict), body
    assert body["trading"] is False and body["spot"]["available"] is True
    page.goto(server.url + "/")
    tab(page, "phase3")
    state = page.locator("#sentinel-state")
    expect(state).to_contain_text("NOT TRADING")
    expect(state).to_contain_text(body["reason"])
    expect(state).to_contain_text("PAUSED")  # paper equity: phase 1, Sentinel runs in 3
    expect(page.locator("#sentinel-pairs")).to_contain_text("No pair open.")
    expect(page.locator("#sentinel-spot")).to_contain_text("Titan holds no spot coin.")
    page.screenshot(path=str(ARTIFACTS / "phase3.png"), full_page=True)
