"""AI Quant inside Titan: start a run, record what it found, the briefing, approve/reject.

A run (nightly, `titan quant run`, `POST /api/quant/run`, NATS `titan.cmd.quant`):

1. reads the journal here (cheap): the insights and yesterday's figures — the briefing;
2. with enough trades, writes `<data>/quant/<id>/input.json` (the active config and
   version, windows, bounds, proposals rejected in the last 30 days) and starts
   `python -m titan.quant search` as a child process at nice 10, so trading never waits;
3. when the child ends, records its outcome, and the proposal if one passed the gate.

Progress is `progress.json` in the run's folder (phase, trials done), shown by
`GET /api/quant/runs/{id}`. Approving a proposal is the only way AI Quant's work reaches the
config: one new version through `ConfigService.apply_changes` (actor, a reason naming the
proposal, audited, in effect at once), and only if the active version is still the one
the proposal was made against. Every decision goes through `audited_action`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from titan.clock import Clock, iso_utc
from titan.config_versioning import ConfigError, ConfigService
from titan.quant.gate import DEFAULT_MIN_TRADES, REJECTED_MEMORY
from titan.quant.insights import insights
from titan.quant.journal import load_trades, yesterday
from titan.quant.search import SearchInput, split
from titan.quant.store import QuantStore
from titan.store.audit import Actor, AuditLog, audited_action
from titan.store.db import Database

HOUR_MS = 3_600_000


class QuantError(Exception):
    """A refused request: `status` is its HTTP status, `code` its error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


@dataclass
class QuantOptions:
    """The search's defaults (each can be given per run)."""

    strategy: str = "scavenger"
    trials: int = 30
    timeout_s: float = 1_200.0
    train_hours: int = 48
    holdout_hours: int = 24
    seed: int = 21
    min_trades: int = DEFAULT_MIN_TRADES
    latency_ms: int = 200
    storage: str | None = None
    workers: int = 1

    @classmethod
    def from_env(cls) -> QuantOptions:
        return cls(trials=_env_int("TITAN_QUANT_TRIALS", 30),
                   timeout_s=float(_env_int("TITAN_QUANT_TIMEOUT_S", 1_200)),
                   train_hours=_env_int("TITAN_QUANT_TRAIN_HOURS", 48),
                   holdout_hours=_env_int("TITAN_QUANT_HOLDOUT_HOURS", 24),
                   storage=os.environ.get("TITAN_QUANT_STORAGE") or None,
                   workers=max(1, _env_int("TITAN_QUANT_WORKERS", 1)))


@dataclass
class _Running:
    proc: asyncio.subprocess.Process
    task: asyncio.Task[None]
    done: asyncio.Event = field(default_factory=asyncio.Event)


class QuantService:
    def __init__(self, db: Database, config: ConfigService, audit: AuditLog, clock: Clock,
                 data_dir: Path, options: QuantOptions | None = None) -> None:
        self.db = db
        self.store = QuantStore(db)
        self.config = config
        self.audit = audit
        self.clock = clock
        self.data_dir = data_dir
        self.root = data_dir / "quant"
        self.options = options or QuantOptions.from_env()
        self._running: dict[str, _Running] = {}
        self._decide = asyncio.Lock()
        self.on_briefing: list[Callable[[dict[str, Any]], object]] = []

    # -- runs ------------------------------------------------------------------------

    async def start_run(self, actor: Actor, trigger: str,
                        overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Start a run; 409 while one is running. Returns the run as `view` shows it."""
        async with audited_action(self.audit, actor, "quant.run",
                                  {"trigger": trigger, **(overrides or {})}) as entry:
            if any(r.proc.returncode is None for r in self._running.values()):
                raise QuantError(409, "BUSY", "an AI Quant run is already running")
            view = await self._start(actor, trigger, dict(overrides or {}))
            entry.result = {"id": view["id"], "status": view["status"]}
        return view

    async def _start(self, actor: Actor, trigger: str, o: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        version = self.config.version
        trades = await load_trades(self.db)
        report = insights(trades)
        briefing = {"insights": report.as_dict(), "yesterday": await yesterday(self.db, now)}
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        await self.store.add_run(run_id, now, trigger, actor.name, version.version_tag,
                                 briefing)
        if not report.enough:
            note = f"no search: {report.note}"
            await self.store.finish_run(run_id, self.clock.now(), status="done", result={
                "note": note, "proposal": None})
            self._briefing_ready({"run": run_id, "status": "done", "note": note,
                                  "proposal": None})
            return await self.view(run_id) or {}
        opts = self.options
        now_ms = int(now.timestamp() * 1000)
        holdout = tuple(o.get("holdout") or (now_ms - opts.holdout_hours * HOUR_MS, now_ms))
        train = tuple(o.get("train") or (holdout[0] - opts.train_hours * HOUR_MS, holdout[0]))
        rejected = await self.store.rejected_since(now - REJECTED_MEMORY)
        inp = SearchInput(
            config_version=version.version_tag, risk=dict(version.config),
            strategies=dict(version.strategies) or {
                k: s.to_api() for k, s in self.config.strategies.items()},
            strategy=str(o.get("strategy") or opts.strategy),
            symbols=list(o.get("symbols") or self.config.active.whitelist),
            train=(int(train[0]), int(train[1])), holdout=(int(holdout[0]), int(holdout[1])),
            data_dir=str(self.data_dir), trials=int(o.get("trials") or opts.trials),
            timeout_s=float(o.get("timeout_s") or opts.timeout_s),
            seed=int(o.get("seed", opts.seed)), params=o.get("params"),
            latency_ms=opts.latency_ms, min_trades=int(o.get("min_trades", opts.min_trades)),
            rejected=rejected, storage=opts.storage, study_name=f"titan-quant-{run_id}",
            workers=opts.workers)
        d = self.root / run_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "input.json").write_text(json.dumps(inp.as_dict(), indent=1, sort_keys=True),
                                      encoding="utf-8")
        log = (d / "log.txt").open("wb")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "titan.quant", "search", "--input", str(d / "input.json"),
                "--out", str(d / "result.json"), "--progress", str(d / "progress.json"),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        task = asyncio.create_task(self._watch(run_id, d, proc, inp))
        self._running[run_id] = _Running(proc, task)
        logger.info("QUANT_RUN_STARTED id={} pid={} trigger={}", run_id, proc.pid, trigger)
        return await self.view(run_id) or {}

    async def _watch(self, run_id: str, d: Path, proc: asyncio.subprocess.Process,
                     inp: SearchInput) -> None:
        try:
            code = await proc.wait()
            result: dict[str, Any] = {}
            error = None
            if code == 0:
                try:
                    result = json.loads((d / "result.json").read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    code, error = -1, f"no readable result.json: {exc}"
            else:
                try:
                    lines = (d / "log.txt").read_text(encoding="utf-8",
                                                      errors="replace").splitlines()
                except OSError:
                    lines = []
                error = "\n".join(lines[-5:]) or f"exit code {code}"
            proposal = None
            if code == 0 and result.get("proposal"):
                p = result["proposal"]
                proposal = {"config_version": inp.config_version, "strategy": inp.strategy,
                            "changes": p["changes"], "active": p["active"],
                            "candidate": p["candidate"],
                            "evidence": {"gate": p["gate"], "train": list(inp.train),
                                         "holdout": list(inp.holdout),
                                         "symbols": inp.symbols, "trials": result.get("trials"),
                                         "timed_out": result.get("timed_out", False),
                                         "latency_ms": inp.latency_ms,
                                         "min_trades": inp.min_trades}}
            pid = await self.store.finish_run(
                run_id, self.clock.now(), status="done" if code == 0 else "failed",
                result=result, error=error, proposal=proposal)
            logger.info("QUANT_RUN_DONE id={} exit={} proposal={} note={}", run_id, code, pid,
                        result.get("note"))
            self._briefing_ready({"run": run_id, "status": "done" if code == 0 else "failed",
                                  "note": result.get("note") or error, "proposal": pid})
        finally:
            running = self._running.get(run_id)
            if running is not None:
                running.done.set()

    def _briefing_ready(self, info: dict[str, Any]) -> None:
        for listener in tuple(self.on_briefing):
            try:
                listener(info)
            except Exception:
                logger.opt(exception=True).warning("QUANT_BRIEFING_LISTENER_FAILED")

    async def wait(self, run_id: str) -> None:
        """Until the run's child has ended and its outcome is recorded (tests, CLI)."""
        running = self._running.get(run_id)
        if running is not None:
            await running.done.wait()

    async def view(self, run_id: str) -> dict[str, Any] | None:
        run = await self.store.run(run_id)
        if run is None:
            return None
        status = run["status"]
        if status == "running" and run_id not in self._running:
            status = "failed"  # its process belonged to an earlier Titan
        progress: dict[str, Any] = {}
        try:
            progress = json.loads((self.root / run_id / "progress.json").read_text("utf-8"))
        except (OSError, ValueError):
            progress = {}
        return {"id": run_id, "status": status, "trigger": run["trigger"],
                "actor": run["actor"], "createdAt": run["created_at"],
                "finishedAt": run["finished_at"], "configVersion": run["config_version"],
                "progress": progress, "note": run["result"].get("note"),
                "error": run["error"]}

    async def runs(self) -> list[dict[str, Any]]:
        return [v for r in await self.store.runs() if (v := await self.view(r["id"]))]

    # -- the briefing ----------------------------------------------------------------

    async def briefing(self) -> dict[str, Any]:
        now = self.clock.now()
        run = await self.store.latest_done()
        pending = await self.store.proposals("pending")
        recent = await self.store.proposals(limit=20)
        notes: list[str] = []
        if run is None:
            notes.append("AI Quant has not run yet")
            ins = insights(await load_trades(self.db)).as_dict()
        else:
            ins = run["briefing"].get("insights", {})
            if run["result"].get("note"):
                notes.append(str(run["result"]["note"]))
        if not ins.get("enough", False) and ins.get("note"):
            notes.append(str(ins["note"]))
        active = self.config.version.version_tag
        for p in recent:
            p["stale"] = p["status"] == "pending" and p["config_version"] != active
        return {"generatedAt": iso_utc(now), "activeConfigVersion": active,
                "run": None if run is None else await self.view(run["id"]),
                "insights": ins, "yesterday": await yesterday(self.db, now),
                "pending": sum(1 for p in pending), "proposals": recent, "notes": notes}

    # -- decisions -------------------------------------------------------------------

    async def _pending(self, proposal_id: int) -> dict[str, Any]:
        p = await self.store.proposal(proposal_id)
        if p is None:
            raise QuantError(404, "PROPOSAL_NOT_FOUND", f"no proposal {proposal_id}")
        if p["status"] != "pending":
            raise QuantError(409, "ALREADY_DECIDED",
                             f"proposal {proposal_id} is already {p['status']}")
        return p

    async def approve(self, proposal_id: int, actor: Actor, reason: str = "") -> dict[str, Any]:
        """One new config version with the proposal's values; 404 unknown, 409 decided or
        stale (the active version is no longer the one it was made against)."""
        async with self._decide, audited_action(self.audit, actor, "quant.approve",
                                                {"id": proposal_id, "reason": reason}) as entry:
            p = await self._pending(proposal_id)
            active = self.config.version.version_tag
            if p["config_version"] != active:
                raise QuantError(409, "STALE", (
                    f"proposal {proposal_id} was made against config {p['config_version']}; "
                    f"the active config is now {active}"))
            values = {n: c["to"] for n, c in p["changes"].items()}
            risk, params = split(values, p["strategy"])
            why = f"AI Quant proposal #{proposal_id} approved" + (f": {reason}" if reason else "")
            try:
                result = await self.config.apply_changes(
                    risk, {p["strategy"]: params} if params else {}, actor, why,
                    expected_version=active)
            except ConfigError as exc:
                raise QuantError(exc.status, exc.code, exc.message) from None
            tag = result.version.version_tag
            await self.store.decide(proposal_id, "approved", actor.name, self.clock.now(),
                                    reason=reason or None, applied_version=tag)
            entry.result = {"id": proposal_id, "version_tag": tag, "changes": result.changes}
        return {**(await self.store.proposal(proposal_id) or {}), "version_tag": tag}

    async def reject(self, proposal_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        async with self._decide, audited_action(self.audit, actor, "quant.reject",
                                                {"id": proposal_id, "reason": reason}) as entry:
            if not reason.strip():
                raise QuantError(422, "VALIDATION_ERROR", "a reason is required to reject")
            await self._pending(proposal_id)
            await self.store.decide(proposal_id, "rejected", actor.name, self.clock.now(),
                                    reason=reason.strip())
            entry.result = {"id": proposal_id, "status": "rejected"}
        return await self.store.proposal(proposal_id) or {}

    async def close(self) -> None:
        """Titan stops: a running search is ended (nobody would record its outcome; the run
        shows as failed and the next one starts afresh); our watchers end."""
        for r in self._running.values():
            if r.proc.returncode is None:
                try:
                    r.proc.terminate()
                except ProcessLookupError:
                    pass
            r.task.cancel()
