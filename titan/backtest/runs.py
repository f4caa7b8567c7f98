"""Backtest runs started from the API: each in its own process, kept under the data folder.

`BacktestRuns.start` makes `<data>/backtests/<id>/`, writes `run.json` (what was asked),
and starts `python -m titan.backtest … --out <dir> --progress-file <dir>/progress.json`
as a child process at a lower CPU priority — never in Titan's event loop. A watcher task
waits for the child and records how it ended (`status` done/failed, exit code, the tail
of its stderr). Listings read the folders, so runs survive a restart of Titan; a run
whose process is gone without a recorded end is shown as failed ("interrupted").

At most `MAX_RUNNING` runs at once (the machine has 2 cores and Titan trades on them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from titan.clock import Clock, iso_utc

MAX_RUNNING = 2
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
HEADLINE = ("trades", "net_pnl", "gross_pnl", "fees", "funding", "win_rate", "profit_factor",
            "max_drawdown", "sharpe", "sortino", "exposure", "return_pct")


class RunsBusy(Exception):
    pass


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BacktestRuns:
    def __init__(self, root: Path, data_dir: Path, clock: Clock) -> None:
        self.root = root
        self.data_dir = data_dir
        self.clock = clock
        self._watchers: set[asyncio.Task[None]] = set()
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    def _dir(self, run_id: str) -> Path | None:
        if not _ID.match(run_id):
            return None
        d = self.root / run_id
        return d if (d / "run.json").is_file() else None

    async def start(self, *, strategy: str, symbols: list[str], start: str, end: str,
                    latency_ms: int, config: str | None) -> dict[str, Any]:
        running = sum(1 for p in self._procs.values() if p.returncode is None)
        if running >= MAX_RUNNING:
            raise RunsBusy(f"{running} backtests are running (at most {MAX_RUNNING} at once)")
        now = self.clock.now()
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        d = self.root / run_id
        d.mkdir(parents=True)
        params = {"strategy": strategy, "symbols": symbols, "start": start, "end": end,
                  "latencyMs": latency_ms, "config": config}
        args = ["--strategy", strategy, "--symbols", ",".join(symbols), "--start", start,
                "--end", end, "--latency-ms", str(latency_ms), "--data", str(self.data_dir),
                "--out", str(d), "--progress-file", str(d / "progress.json")]
        if config:
            args += ["--config", config]
        log = (d / "log.txt").open("wb")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "titan.backtest", *args, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        self._procs[run_id] = proc
        self._write(d, {"id": run_id, "params": params, "createdAt": iso_utc(now),
                        "status": "running", "pid": proc.pid})
        task = asyncio.create_task(self._watch(run_id, d, proc))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return self.view(run_id) or {}

    async def _watch(self, run_id: str, d: Path, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        run = _read_json(d / "run.json") or {}
        tail = ""
        if code != 0:
            try:
                lines = (d / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()
                tail = "\n".join(lines[-5:])
            except OSError:
                tail = ""
        run.update({"status": "done" if code == 0 else "failed", "exitCode": code,
                    "finishedAt": iso_utc(self.clock.now()), "error": tail or None})
        self._write(d, run)
        self._procs.pop(run_id, None)

    @staticmethod
    def _write(d: Path, run: dict[str, Any]) -> None:
        tmp = d / "run.json.tmp"
        tmp.write_text(json.dumps(run, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, d / "run.json")

    def view(self, run_id: str) -> dict[str, Any] | None:
        d = self._dir(run_id)
        if d is None:
            return None
        run = _read_json(d / "run.json") or {}
        status = run.get("status", "failed")
        if status == "running" and run_id not in self._procs and not _alive(int(run.get("pid", 0))):
            status, run["error"] = "failed", "interrupted (its process is gone)"
        progress = (_read_json(d / "progress.json") or {}).get("progress", 0.0)
        report = _read_json(d / "report.json") if status == "done" else None
        out: dict[str, Any] = {
            "id": run_id, "status": status, "params": run.get("params", {}),
            "createdAt": run.get("createdAt"), "finishedAt": run.get("finishedAt"),
            "exitCode": run.get("exitCode"), "error": run.get("error"),
            "progress": 100.0 if status == "done" else round(float(progress) * 100, 1),
            "results": {k: report.get(k) for k in HEADLINE} if report else None,
            "reportUrl": f"/api/backtests/{run_id}/report.html" if report else None,
        }
        return out

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        ids = sorted((p.name for p in self.root.iterdir() if _ID.match(p.name)), reverse=True)
        return [v for i in ids if (v := self.view(i)) is not None]

    def report_path(self, run_id: str) -> Path | None:
        d = self._dir(run_id)
        if d is None or not (d / "report.html").is_file():
            return None
        return d / "report.html"

    async def close(self) -> None:
        """Titan stops: runs go on in their own processes; only our watchers end."""
        for t in list(self._watchers):
            t.cancel()
