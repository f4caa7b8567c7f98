"""The console's System tab tells the operator when push notifications fail (a real
`titan run` with an unreachable notify URL, Debian's chromium via Playwright)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, USER, auth_header, free_port, start_titan, titan_env, wait_http

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

if not CHROMIUM.exists():  # scripts/test installs it (ensure_apt chromium chromium)
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


def _status(url: str) -> dict[str, object]:
    req = urllib.request.Request(f"{url}/api/status", headers=auth_header())
    with urllib.request.urlopen(req, timeout=10) as resp:
        body: dict[str, object] = json.loads(resp.read())
    return body


@pytest.mark.timeout(180)
def test_system_tab_shows_failing_notifications(tmp_path: Path) -> None:
    port, dead_port = free_port(), free_port()
    env = titan_env(tmp_path / "data", port,
                    TITAN_NOTIFY_URLS=f"json://127.0.0.1:{dead_port}/notify")
    proc = start_titan(["run"], env, tmp_path / "titan.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/health", timeout=60, proc=proc)
        # SYSTEM_STARTED goes to a URL nobody listens on: 4 attempts (1+2+4 s of backoff).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            notes = _status(url)["notifications"]
            assert isinstance(notes, dict)
            if notes["failed"]:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the notification never failed")
        assert proc.poll() is None  # an unreachable endpoint is never fatal
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(http_credentials={"username": USER,
                                                            "password": PASSWORD})
            page = context.new_page()
            page.goto(url + "/")
            page.click("#tab-system")
            info = page.locator("#sys-info")
            expect(info).to_contain_text("Notifications", timeout=30_000)
            expect(info).to_contain_text("1 FAILED")
            expect(info).to_contain_text(f"127.0.0.1:{dead_port}")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "system-notifications.png"), full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
