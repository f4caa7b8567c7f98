"""Which bus events become a push notification, and the few lines each one says.

Each message answers: what happened, why, and what the operator can do. Events not
listed here are sent only when they carry an alert severity at or above the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from titan.domain.reasons import Severity
from titan.events import Event
from titan.logs import redact

SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send."""

    severity: Severity
    title: str
    body: str
    ts: datetime
    alone: bool = False  # never merged into a digest (the daily summary)

    def line(self) -> str:
        """One line for a digest of many notices."""
        return f"{self.ts:%H:%M:%S} {self.severity.value}: {self.title}"


@dataclass(frozen=True, slots=True)
class _Rule:
    severity: Severity
    title: str
    action: str


# Event name -> the least severity it is sent with, its title and what the operator can do.
RULES: dict[str, _Rule] = {
    "CIRCUIT_BREAKER": _Rule(
        Severity.CRITICAL, "Circuit breaker TRIPPED",
        "Trading stopped and Master Arm is off. Check the console (Overview, Positions), then "
        "reset the breaker with a reason (POST /api/circuit-breaker/reset) when it is safe."),
    "CIRCUIT_BREAKER_RESET": _Rule(
        Severity.HIGH, "Circuit breaker reset",
        "Master Arm stays off: arm again from the console when you want trading back."),
    "HALT_CHANGED": _Rule(
        Severity.HIGH, "Halt state changed",
        "See the System tab; `titan halt OPEN --reason ...` resumes when it is safe."),
    "KILL_SWITCH": _Rule(
        Severity.CRITICAL, "KILL SWITCH",
        "Titan is HARD_HALT and DISARMED. Check the venue's positions in the console "
        "(Positions tab) and on the exchange."),
    "MASTER_ARM_CHANGED": _Rule(
        Severity.HIGH, "Master Arm changed",
        "Nothing to do if this was you; otherwise disarm from the console and check the audit log."),
    "SHADOW_MISMATCH": _Rule(
        Severity.HIGH, "Shadow mismatch with the venue",
        "Titan's book and the venue's disagree. Run `titan reconcile` and check the Positions tab."),
    "VENUE_DISCONNECTED": _Rule(
        Severity.HIGH, "Venue disconnected",
        "Titan keeps reconnecting and pauses strategies meanwhile. Check the network and the "
        "venue's status page; positions stay protected by their stop orders on the venue."),
    "VENUE_CONNECTED": _Rule(
        Severity.HIGH, "Venue reconnected",
        "Titan reconciles with the venue; check the Positions tab."),
    "DISK_LOW": _Rule(
        Severity.HIGH, "Disk nearly full",
        "Free space on Titan's data disk (old logs, old backups) before the database cannot write."),
    "SYSTEM_STARTED": _Rule(
        Severity.HIGH, "Titan started",
        "Check the console: Master Arm, halt state and venue connection."),
    "SYSTEM_STOPPING": _Rule(
        Severity.HIGH, "Titan stopping",
        "If you did not stop it, check PM2 (`pm2 logs titan`) and start it again."),
    "FLATTEN": _Rule(
        Severity.CRITICAL, "Flatten all",
        "Check the Positions tab and the exchange: anything listed as left is still open."),
    "BACKUP_FAILED": _Rule(
        Severity.HIGH, "Backup FAILED",
        "Run `titan backup` by hand and check the backup folder's disk and permissions."),
}
GENERIC_ACTION = "Open the console's Alerts for details."


def rule_key(event: Event) -> str | None:
    """The RULES key for an event, or None when it has no rule of its own."""
    if event.name == "OPERATOR_ACTION":
        return "FLATTEN" if event.data.get("action") == "flatten_all" else None
    if event.name == "ALERT" and event.data.get("kind") == "BACKUP_FAILED":
        return "BACKUP_FAILED"
    return event.name if event.name in RULES else None


def severity_of(event: Event) -> Severity | None:
    """The severity the event is notified with (the higher of its rule's and its own)."""
    key = rule_key(event)
    own = event.alert_severity
    if key is None:
        return own
    rule = RULES[key].severity
    if own is not None and SEVERITY_RANK[own] > SEVERITY_RANK[rule]:
        return own
    return rule


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _why(data: dict[str, Any]) -> str | None:
    for k in ("reason", "why", "error", "detail"):
        v = data.get(k)
        if v:
            return str(v)
    return None


def _flatten_what(event: Event) -> str:
    d = event.data
    res = d.get("result") if isinstance(d.get("result"), dict) else {}
    ok = bool(d.get("success"))
    closed = res.get("positions_closed") if res else None
    left = [f"{r.get('symbol')}: {r.get('error')}" for r in (res.get("results") or [])
            if isinstance(r, dict) and not r.get("success")] if res else []
    what = f"flatten all by {d.get('actor', '?')}: {'DONE' if ok else 'NOT COMPLETE'}"
    if closed is not None:
        what += f", {closed} position(s) closed"
    if left:
        what += "; still open: " + "; ".join(left[:5])
    if res and res.get("error"):
        what += f"; {res['error']}"
    return what


def notice_for(event: Event, minimum: Severity) -> Notice | None:
    """The message for `event`, or None when it is not one to send at this minimum."""
    sev = severity_of(event)
    if sev is None or SEVERITY_RANK[sev] < SEVERITY_RANK[minimum]:
        return None
    key = rule_key(event)
    rule = RULES.get(key) if key else None
    # Without a rule of its own the event's message is the most telling title.
    title = rule.title if rule else _short(f"{event.name}: {event.message}")
    if key == "HALT_CHANGED" and event.data.get("to"):
        title = f"Halt state {event.data.get('from', '?')} -> {event.data['to']}"
    if key == "MASTER_ARM_CHANGED" and event.data.get("to"):
        title = f"Master Arm {event.data['to']}"
    if key == "FLATTEN":
        title += " done" if event.data.get("success") else " NOT COMPLETE"
    what = _flatten_what(event) if key == "FLATTEN" else event.message
    lines = [f"What: {what}"]
    why = _why(event.data)
    if why and why not in what:
        lines.append(f"Why: {why}")
    lines.append(f"Do: {rule.action if rule else GENERIC_ACTION}")
    lines.append(f"When: {event.ts:%Y-%m-%d %H:%M:%S} UTC")
    return Notice(sev, redact(f"[Titan] {title}"), redact("\n".join(lines)), event.ts)


def digest(notices: list[Notice], shown: int = 12) -> Notice:
    """Many notices at once (a storm) as one message: the highest severity, one line each."""
    top = max(notices, key=lambda n: SEVERITY_RANK[n.severity])
    lines = [n.line() for n in notices[:shown]]
    if len(notices) > shown:
        lines.append(f"... and {len(notices) - shown} more: see the console's Alerts.")
    lines.append(f"Most severe: {top.title}\n{top.body}")
    return Notice(top.severity, f"[Titan] {len(notices)} alerts ({top.severity.value})",
                  "\n".join(lines), notices[-1].ts)
