"""The console in a real browser (Debian's chromium via Playwright) against `titan run` on
the built-in simulator: what an operator sees and does at 3 a.m.

One Titan process and one browser page for the whole module; the tests run in file order
(each leaves the system in the state the next expects) and save a screenshot of every tab
to test-artifacts/console/.
"""

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

from tests.helpers import (
    KILL_CODE,
    PASSWORD,
    USER,
    auth_header,
    free_port,
    start_titan,
    titan_env,
    wait_http,
)

# The tests share one Titan and one browser page (module fixtures) and go on from the
# state the one before left: under pytest-xdist the file runs on one worker (--dist loadfile).
pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ACCOUNT = "titan-paper"

if not CHROMIUM.exists():  # scripts/test installs it (ensure_apt chromium chromium)
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


# ------------------------------------------------------------------------------ helpers


class Server:
    """`titan run` as a subprocess that can be stopped and started again (same port, data)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sim_url = ""
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.runs += 1
        log = self.root / f"titan-{self.runs}.log"
        self.proc = start_titan(["run"], titan_env(self.data, self.port), log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            m = re.search(r"SIMULATOR_STARTED url=(\S+)", text)
            if m and "SYSTEM_STARTED" in text:
                self.sim_url = m.group(1)
                break
            assert self.proc.poll() is None, f"titan exited early:\n{text}"
            time.sleep(0.2)
        else:
            raise AssertionError(f"titan did not start:\n{log.read_text(errors='replace')}")
        assert wait_http(f"{self.url}/health", proc=self.proc) in (200, 503)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.sim_url}/sim/control{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **auth_header()})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def venue_positions(self) -> list[dict[str, Any]]:
        got = self.sim("GET", f"/accounts/{ACCOUNT}/positions")["positions"]
        return [p for p in got if float(p.get("size", 0) or 0) > 0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("console-e2e"), free_port())
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


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tab(page: Any, name: str) -> None:
    page.click(f"#tab-{name}")
    expect(page.locator(f"#panel-{name}")).to_be_visible()


def _named(listed: dict[str, Any], name: str) -> dict[str, Any]:
    """One strategy of `GET /api/strategies` (the list holds Hunter too)."""
    found: dict[str, Any] = next(s for s in listed["strategies"] if s["name"] == name)
    return found


def dialog_ok(page: Any) -> None:
    expect(page.locator("#dlg")).to_be_visible()
    page.click("#dlg-ok")
    expect(page.locator("#dlg")).to_be_hidden()


def toast(page: Any, kind: str, text: str) -> Any:
    loc = page.locator(f".toast.{kind}", has_text=text).last
    expect(loc).to_be_visible(timeout=30_000)
    return loc


def equity_text(page: Any) -> str:
    return str(page.locator("#card-equity").inner_text())


# ------------------------------------------------------------------------------ tests


def test_page_needs_auth_and_goes_live(server: Server, page: Any) -> None:
    for path in ("/", "/static/console.js", "/ws"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"{server.url}{path}", timeout=10)
        assert exc.value.code == 401
    page.goto(server.url + "/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(page.locator("#conn")).to_contain_text("Connected")
    expect(page.locator("#card-equity")).to_have_text(re.compile(r"\$[\d,]+\.\d\d"))
    expect(page.locator("#card-phase")).to_have_text("1")
    expect(page.locator("#venue-bybit")).to_contain_text("Connected")
    expect(page.locator("#venue-binance")).to_contain_text("Connected")
    expect(page.locator("#chart-equity canvas").first).to_be_attached()
    page.evaluate("window.__noReload = 'still the same page'")


def test_arm_and_disarm(page: Any) -> None:
    expect(page.locator("#arm-state")).to_contain_text("DISARMED")
    page.click("#btn-arm")
    page.fill("#dlg-input", "e2e: morning checks done")
    dialog_ok(page)
    toast(page, "ok", "Master Arm is now ARMED")
    expect(page.locator("#arm-state")).to_have_text(re.compile(r"\bARMED"))
    expect(page.locator("#arm-state")).not_to_contain_text("DISARMED")
    expect(page.locator("#arm-detail")).to_contain_text("e2e: morning checks done")
    page.click("#btn-disarm")
    dialog_ok(page)  # the reason is optional
    toast(page, "ok", "Master Arm is now DISARMED")
    expect(page.locator("#arm-state")).to_contain_text("DISARMED")


def test_overview_shows_the_regime_per_symbol(server: Server, page: Any) -> None:
    """Each streamed symbol's tail-risk regime (SPEC §17), as /api/regime has it."""
    rows = page.locator("#regime-rows tr[data-symbol]")
    expect(rows.first).to_be_visible(timeout=30_000)  # warmed up from the venue at start
    status, body = server.api("GET", "/api/regime")
    assert status == 200 and body["symbols"], body
    expect(rows).to_have_count(len(body["symbols"]))
    for symbol, reading in body["symbols"].items():
        row = page.locator(f'#regime-rows tr[data-symbol="{symbol}"]')
        expect(row.locator("[data-regime]")).to_have_text(reading["regime"])
        if reading["alpha"] is not None:
            expect(row).to_contain_text(f"{reading['alpha']:.2f}")


def test_equity_changes_live_without_reload(server: Server, page: Any) -> None:
    before = equity_text(page)
    price = float(server.sim("GET", "/prices")["prices"]["BTCUSDT"])
    server.sim("POST", f"/accounts/{ACCOUNT}/open-position",
               {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.01"})
    # +3%: under the 5%-in-60s volatility breaker, and 0.01 BTC moves equity by ~$20.
    server.sim("POST", "/price", {"symbol": "BTCUSDT", "price": f"{price * 1.03:.1f}"})
    expect(page.locator("#card-equity")).not_to_have_text(before, timeout=20_000)
    assert page.evaluate("window.__noReload") == "still the same page"
    shot(page, "1-overview")


def test_phase1_tab(page: Any) -> None:
    tab(page, "phase1")
    expect(page.locator("#scav-state")).not_to_be_empty()
    shot(page, "2-phase1")


def test_strategy_switched_off_and_on_from_the_phase1_tab(server: Server, page: Any) -> None:
    tab(page, "phase1")
    row = page.locator("#strategies tr[data-strategy=scavenger]")
    expect(row).to_contain_text("ENABLED")
    expect(row).to_contain_text("RUNNING", timeout=20_000)
    _, before = server.api("GET", "/api/strategies")
    row.locator("button[data-switch=scavenger]").click()
    expect(page.locator("#dlg-message")).to_contain_text("Its open positions stay")
    page.keyboard.press("Escape")  # cancelled: nothing changes
    toast(page, "ok", "scavenger: nothing changed")
    _, same = server.api("GET", "/api/strategies")
    assert same["version_tag"] == before["version_tag"]
    row.locator("button[data-switch=scavenger]").click()
    page.fill("#dlg-input", "e2e: news at 14:00")
    dialog_ok(page)
    toast(page, "ok", "scavenger disabled (config version")
    expect(row).to_contain_text("DISABLED")
    expect(row).to_contain_text("operator: disabled by the operator: e2e: news at 14:00")
    _, off = server.api("GET", "/api/strategies")
    assert _named(off, "scavenger")["enabled"] is False and off["version_tag"] != before["version_tag"]
    shot(page, "2b-strategy-disabled")
    row.locator("button[data-switch=scavenger]").click()
    page.fill("#dlg-input", "e2e: news passed")
    dialog_ok(page)
    toast(page, "ok", "scavenger enabled")
    expect(row).to_contain_text("ENABLED")
    _, on = server.api("GET", "/api/strategies")
    assert _named(on, "scavenger")["enabled"] is True
    # Its realised PnL from the journal (GET /api/performance by_strategy) beside its
    # counters: the journal's figure, not a dash, once the tab has read it.
    _, perf = server.api("GET", "/api/performance")
    total = float(perf["by_strategy"]["scavenger"]["all_time"]["realised_pnl"])
    expect(row.locator("td").nth(8)).to_contain_text(f"${abs(total):,.2f}")


def test_armed_traps_are_on_the_tick_and_within_reach(server: Server, page: Any) -> None:
    tab(page, "phase1")
    # A round may arm none (no candidate scores enough): wait for one that arms some
    # (every minute).
    deadline = time.monotonic() + 75
    while True:
        _, status = server.api("GET", "/api/status")
        traps = status["scavenger"]["armedTraps"]
        if traps or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert traps, "the Scavenger armed no trap in a minute of the simulator's market"
    rows = page.locator("#traps tr")
    expect(rows.first).not_to_contain_text("—", timeout=20_000)
    reach = status["scavenger"]["reachPct"]
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        if len(cells) < 7:
            continue  # the "no trap within reach" line
        trap = next(t for t in traps if t["symbol"] == cells[0])
        decimals = len(trap["tick"].split(".")[1].rstrip("0")) if "." in trap["tick"] else 0
        level = cells[3].replace(",", "")
        shown = len(level.split(".")[1]) if "." in level else 0
        assert shown == decimals, cells
        assert float(cells[5].rstrip("%")) <= reach, cells
    far = sum(1 for t in traps if t["distancePct"] > reach + 0.5)
    if far:
        expect(page.locator("#traps-far")).to_contain_text("not listed")


def test_positions_side_by_side_and_reconcile(page: Any) -> None:
    tab(page, "positions")
    row = page.locator("#positions tr[data-symbol=BTCUSDT]")
    expect(row).to_be_visible(timeout=20_000)
    expect(row).to_contain_text("Buy")
    page.click("#btn-reconcile")
    toast(page, "ok", "Reconcile")
    expect(page.locator("#reconcile-report")).to_contain_text("Just now")
    expect(page.locator("#reconcile-report")).to_contain_text("trigger: operator")
    shot(page, "3-positions")


def test_flatten_cancelled_changes_nothing_then_confirmed_leaves_venue_flat(
        server: Server, page: Any) -> None:
    assert server.venue_positions(), "the position opened by hand is on the venue"
    tab(page, "overview")
    page.locator("#panel-overview [data-action=flatten]").click()
    expect(page.locator("#dlg-message")).to_have_text(
        "Are you sure? This will close ALL positions.")
    page.keyboard.press("Escape")  # cancel with the keyboard
    expect(page.locator("#dlg")).to_be_hidden()
    toast(page, "ok", "FLATTEN ALL cancelled")
    time.sleep(1.0)
    assert server.venue_positions(), "cancelling the dialog must send nothing"

    page.locator("#panel-overview [data-action=flatten]").click()
    dialog_ok(page)
    toast(page, "ok", "FLATTEN ALL: done")
    assert server.venue_positions() == []
    tab(page, "positions")
    expect(page.locator("#positions")).to_contain_text("Flat", timeout=20_000)


def test_settings_risk_out_of_range_and_rollback(server: Server, page: Any) -> None:
    status, _ = server.api("GET", "/api/console/config")
    # The configuration API is part of this build: a 404 is a regression, not a reason
    # to test nothing.
    assert status == 200, f"GET /api/console/config answered {status}"
    tab(page, "settings")
    field = page.locator("#f-maxLeverage")
    expect(field).to_be_visible()
    expect(page.locator("#f-maxLeverage-range")).to_contain_text("50")
    _, before = server.api("GET", "/api/console/config")
    field.fill("500")
    page.click("#risk-form button[type=submit]")
    expect(page.locator("#f-maxLeverage-err")).to_contain_text(re.compile(r"\S"))
    expect(page.locator("#risk-form-error")).to_contain_text("nothing changed")
    toast(page, "err", "Save risk parameters FAILED")
    # The refusal leaves the form as the operator typed it, marked (a re-render from the
    # server after the refusal used to wipe both the value and the mark).
    page.wait_for_timeout(300)
    expect(field).to_have_value("500")
    expect(page.locator("#f-maxLeverage-err")).to_contain_text(re.compile(r"\S"))
    _, after = server.api("GET", "/api/console/config")
    assert after["version_tag"] == before["version_tag"]
    assert after["config"]["maxLeverage"] == before["config"]["maxLeverage"]
    shot(page, "4-settings")

    # A change makes a version; rolling back to the first makes another.
    page.fill("#f-maxLeverage", "10")
    page.click("#risk-form button[type=submit]")
    toast(page, "ok", "saved as version")
    _, versions = server.api("GET", "/api/config/versions")
    oldest = versions["items"][-1]["version_tag"]
    count = versions["total"]
    page.locator(f"#versions tr[data-version='{oldest}'] button").click()
    dialog_ok(page)
    toast(page, "ok", "new active version")
    _, versions = server.api("GET", "/api/config/versions")
    assert versions["total"] == count + 1
    assert versions["items"][0]["rolled_back_from"] == oldest
    expect(page.locator("#versions")).to_contain_text(oldest)


def test_a_new_config_version_keeps_the_edits_in_progress(server: Server, page: Any) -> None:
    tab(page, "settings")
    field = page.locator("#f-maxRiskPerTrade")
    expect(field).to_be_visible()
    field.fill("0.03")  # typed, not saved
    status, body = server.api("POST", "/api/console/config/risk",
                              {"consecutiveLossLimit": 4, "reason": "e2e: from elsewhere"})
    assert status == 200 and body["changed"] is True, body
    expect(page.locator("#settings-changed")).to_be_visible()
    expect(page.locator("#settings-changed")).to_contain_text("your edits below are kept")
    expect(field).to_have_value("0.03")  # the CONFIG_CHANGED event did not wipe it


def test_kill_switch_wrong_code_refused_right_code_halts(server: Server, page: Any) -> None:
    tab(page, "system")
    expect(page.locator("#halt-state")).to_have_text("OPEN")
    kill = page.locator("#panel-system [data-action=kill]")
    kill.click()
    page.fill("#dlg-input", "000000")
    page.keyboard.press("Enter")  # the dialog submits on Enter
    toast(page, "err", "KILL SWITCH FAILED")
    expect(page.locator(".toast.err").last).to_contain_text("KILL_CODE_REJECTED")
    _, st = server.api("GET", "/api/status")
    assert st["haltState"] == "OPEN"
    expect(page.locator("#halt-state")).to_have_text("OPEN")

    kill.click()
    page.fill("#dlg-input", KILL_CODE)
    page.keyboard.press("Enter")
    toast(page, "ok", "KILL SWITCH")
    expect(page.locator("#halt-state")).to_have_text("HARD_HALT")
    expect(page.locator("#banner-halt")).to_contain_text("HARD_HALT")
    expect(page.locator("#hdr-arm")).to_have_text("DISARMED")
    shot(page, "5-system")


def test_open_needs_a_reason(server: Server, page: Any) -> None:
    page.click("#panel-system [data-halt=OPEN]")
    page.click("#dlg-ok")  # no reason typed
    expect(page.locator("#dlg-input-error")).to_contain_text("required")
    page.fill("#dlg-input", "e2e: incident reviewed")
    page.click("#dlg-ok")
    toast(page, "ok", "halt state is now OPEN")
    expect(page.locator("#halt-state")).to_have_text("OPEN")
    expect(page.locator("#banner-halt")).to_have_count(0)


def test_system_tab_shows_the_nats_bus(page: Any) -> None:
    tab(page, "system")
    info = page.locator("#sys-info")
    expect(info).to_contain_text("NATS command bus")
    expect(info).to_contain_text("off (TITAN_NATS_URL not set)")  # this Titan has no bus


def test_page_works_without_the_charting_library(server: Server, page: Any) -> None:
    context = page.context.browser.new_context(
        http_credentials={"username": USER, "password": PASSWORD},
        viewport={"width": 390, "height": 844})  # and on a phone-sized screen
    try:
        other = context.new_page()
        other.route("**/vendor/lightweight-charts.mjs", lambda route: route.fulfill(
            status=404, content_type="application/json", body='{"error": {}}'))
        other.goto(server.url + "/")
        expect(other.locator("#conn")).to_have_attribute("data-state", "connected")
        expect(other.locator("#chart-equity-note")).to_contain_text("Charts unavailable")
        expect(other.locator("#card-equity")).to_have_text(re.compile(r"\$[\d,]+\.\d\d"))
        shot(other, "7-phone-no-charts")
    finally:
        context.close()


def test_indicator_follows_the_server_down_and_back(server: Server, page: Any) -> None:
    tab(page, "overview")
    t0 = time.monotonic()
    server.stop()  # SIGINT with a console connected: the socket is closed, exit is quick
    assert time.monotonic() - t0 < 10
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    expect(page.locator("#conn")).to_contain_text("Reconnecting")
    expect(page.locator("#banner-stale")).to_be_visible()
    shot(page, "6-reconnecting")
    server.start()
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=30_000)
    expect(page.locator("#conn")).to_contain_text("Connected")
    assert page.evaluate("window.__noReload") == "still the same page"
    expect(page.locator("#banner-stale")).to_have_count(0)
