"""`titan notify test` says which URL worked (exit 1 when any failed); a URL apprise cannot
parse stops `titan run` and `titan notify test` with one line naming it (exit 2)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.helpers import free_port, titan_env
from tests.notify.receiver import Receiver


async def _titan(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "titan", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_notify_test_reports_each_url(tmp_path: Path, receiver: Receiver) -> None:
    dead = f"json://127.0.0.1:{free_port()}/notify"
    env = titan_env(tmp_path / "data", free_port(),
                    TITAN_NOTIFY_URLS=f"{receiver.url} {dead}")
    rc, out, err = await _titan(["notify", "test"], env)
    assert rc == 1, (out, err)
    lines = out.splitlines()
    assert any(line.startswith("OK") and f":{receiver.port}/" in line for line in lines), out
    assert any(line.startswith("FAILED") and dead.split("//")[1].split("/")[0] in line
               for line in lines), out
    assert "1 of 2 URL(s) worked" in out
    assert [m["title"] for m in receiver.messages] == ["[Titan] Test notification"]


async def test_notify_test_all_good_exits_0(tmp_path: Path, receiver: Receiver) -> None:
    env = titan_env(tmp_path / "data", free_port(), TITAN_NOTIFY_URLS=receiver.url)
    rc, out, _ = await _titan(["notify", "test"], env)
    assert rc == 0 and "1 of 1 URL(s) worked" in out


async def test_unparseable_url_stops_start_up_in_one_line(tmp_path: Path) -> None:
    env = titan_env(tmp_path / "data", free_port(),
                    TITAN_NOTIFY_URLS="json://127.0.0.1:1/ok nosuchservice://token123@x")
    for args in (["run"], ["notify", "test"]):
        rc, out, err = await _titan(args, env)
        assert rc == 2, (args, out, err)
        assert err.strip().count("\n") == 0, err
        assert "TITAN_NOTIFY_URLS: URL 2 (nosuchservice://...)" in err
        assert "token123" not in err  # the rest of the URL may be a secret
    assert not (tmp_path / "data" / "titan.db").exists()  # nothing was started


async def test_notify_test_without_urls_says_so(tmp_path: Path) -> None:
    rc, _, err = await _titan(["notify", "test"], titan_env(tmp_path / "data", free_port()))
    assert rc == 2 and "TITAN_NOTIFY_URLS is not set" in err
