"""AI Quant wired into a running Titan (kept out of core.py, which only wires the core):
the service, its nightly APScheduler job after the backup, the NATS `titan.cmd.quant`
handler, and the "briefing ready" push through the notifier.

The nightly job runs at 01:00 UTC, half an hour after the nightly backup (00:30 UTC), so
the search never competes with it for the disk; a run still going at the next night is
not started twice (the service refuses while one runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from titan.domain.reasons import Severity
from titan.logs import redact
from titan.notify.messages import Notice
from titan.quant.service import QuantError, QuantService
from titan.store.audit import Actor

if TYPE_CHECKING:
    from titan.core import Titan

NIGHTLY_HOUR_UTC, NIGHTLY_MINUTE_UTC = 1, 0
SYSTEM = Actor("titan", "system")
NATS = Actor("nats", "nats")


def attach_quant(titan: Titan) -> QuantService:
    svc = QuantService(titan.db, titan.config, titan.audit, titan.clock,
                       titan.settings.data_dir)

    async def nightly() -> None:
        try:
            await svc.start_run(SYSTEM, "nightly")
        except QuantError as exc:
            logger.warning("QUANT_NIGHTLY_SKIPPED why={}", exc.message)

    titan.scheduler.daily(NIGHTLY_HOUR_UTC, NIGHTLY_MINUTE_UTC, nightly, "quant-nightly")

    async def on_quant(action: str, proposal_id: int | None, reason: str) -> Any:
        if action == "run":
            return await svc.start_run(NATS, "nats")
        assert proposal_id is not None  # the parser demands it
        if action == "approve":
            return await svc.approve(proposal_id, NATS, reason)
        return await svc.reject(proposal_id, NATS, reason)

    if titan.nats_handlers is not None:
        titan.nats_handlers.on_quant = on_quant
    notifier = titan.notifier
    if notifier.enabled:
        svc.on_briefing.append(lambda info: notifier.enqueue(ready_notice(info, titan)))
    if notifier.daily is not None:
        notifier.daily.sections.append(lambda: briefing_section(svc))
    return svc


def ready_notice(info: dict[str, Any], titan: Titan) -> Notice:
    """The "briefing ready" push: how the run ended and whether a proposal awaits."""
    lines = [f"AI Quant run {info['run']}: {info['status']}"]
    if info.get("note"):
        lines.append(str(info["note"]))
    if info.get("proposal"):
        lines.append(f"Proposal #{info['proposal']} awaits your decision (console Overview, "
                     f"`titan quant briefing`). Nothing changes until you approve it.")
    return Notice(Severity.LOW, "[Titan] AI Quant briefing ready", redact("\n".join(lines)),
                  titan.clock.now(), alone=True)


async def briefing_section(svc: QuantService) -> str | None:
    """The daily summary's AI Quant paragraph (None before the first run)."""
    b = await svc.briefing()
    if b["run"] is None:
        return None
    ins = b["insights"]
    lines = [f"AI Quant: {b['pending']} proposal(s) pending"]
    if ins.get("enough"):
        lines.append(f"Insights: {len(ins.get('insights', []))} "
                     f"(confidence {ins.get('confidence')})")
        lines += [f"- {i['message']}" for i in ins.get("insights", [])[:3]]
    lines += [f"Note: {n}" for n in b["notes"]]
    return "\n".join(lines)
