"""Titan's side of the NATS bridge: the runbook's commands obeyed through the same paths
as the API (and audited as `source=nats`), refusals audited, the state counted.

Kept out of core.py, which only calls `build_nats_bridge(titan)` and `nats_status(...)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from titan.ops.nats_bridge import CONNECTED, Handlers, NatsBridge, NatsCredentials
from titan.risk import HaltState
from titan.store.audit import Actor, audited_action

if TYPE_CHECKING:
    from titan.core import Titan

NATS_ACTOR = Actor("nats", "nats")


def nats_handlers(titan: Titan) -> Handlers:
    """Each command through the same audited path as the API (`audited_action`)."""

    async def on_halt(state: str, reason: str, actor: str) -> None:
        params = {"state": state, "reason": reason}
        async with audited_action(titan.audit, NATS_ACTOR, "halt", params) as entry:
            entry.result = (await titan.risk.set_halt(HaltState(state), reason, actor)).as_dict()

    async def on_risk_update(changes: dict[str, Any], actor: str) -> None:
        async with audited_action(titan.audit, NATS_ACTOR, "config.risk.update",
                                  changes) as entry:
            result = await titan.config.update_risk(changes, NATS_ACTOR, "titan.cmd.risk.update")
            entry.result = {"versionTag": titan.config.version_tag, "changed": result.changed}

    async def on_risk_reload(actor: str) -> None:
        async with audited_action(titan.audit, NATS_ACTOR, "config.risk.reload", {}) as entry:
            await titan.config.reload(NATS_ACTOR)
            entry.result = {"versionTag": titan.config.version_tag}

    async def on_strategy(name: str, change: dict[str, Any], reason: str) -> None:
        params = {"strategy": name, **change, "reason": reason}
        async with audited_action(titan.audit, NATS_ACTOR, "strategy.change", params) as entry:
            result = await titan.config.update_strategy(name, change, NATS_ACTOR, reason)
            entry.result = {"versionTag": result.version.version_tag, "changed": result.changed}

    async def on_refused(subject: str, why: str, payload: bytes) -> None:
        await titan.audit.record_as(
            NATS_ACTOR, "nats.refused",
            {"subject": subject[:200], "payload": payload[:500].decode("utf-8", "replace")},
            {"refused": why}, False)

    return Handlers(on_halt=on_halt, on_risk_update=on_risk_update,
                    on_risk_reload=on_risk_reload, on_strategy=on_strategy,
                    on_refused=on_refused, on_result=titan.metrics.nats_command)


def build_nats_bridge(titan: Titan, handlers: Handlers) -> NatsBridge | None:
    """The bridge for TITAN_NATS_URL (None when it is not set), not yet started."""
    s = titan.settings
    if not s.nats_url:
        return None
    creds = NatsCredentials(
        user=s.nats_user,
        password=s.nats_password.get_secret_value() if s.nats_password else None,
        token=s.nats_token.get_secret_value() if s.nats_token else None,
        creds_file=str(s.nats_creds) if s.nats_creds else None)

    def on_state(state: str) -> None:
        titan.metrics.set_nats_connected(state == CONNECTED)

    return NatsBridge(s.nats_url, handlers, credentials=creds, subjects=s.nats_subject_list,
                      on_state=on_state)


def start_nats_bridge(titan: Titan) -> NatsBridge | None:
    """Build and start the bridge when TITAN_NATS_URL is set (it logs its own state)."""
    if titan.nats_handlers is None:
        return None
    bridge = build_nats_bridge(titan, titan.nats_handlers)
    if bridge is not None:
        bridge.start()
    return bridge


def nats_status(bridge: NatsBridge | None, configured: bool) -> dict[str, Any]:
    """The bridge's state for /api/status and the console (`state: "off"` without a URL)."""
    if bridge is not None:
        return bridge.status()
    return {"configured": configured, "state": "stopped" if configured else "off",
            "connected": False}


def nats_health(bridge: NatsBridge | None) -> dict[str, Any] | None:
    """The `/health` check: not critical (the API and `titan halt` still work), but a
    configured bus that is not connected makes Titan `degraded`, with why."""
    if bridge is None:
        return None
    st = bridge.status()
    if st["connected"]:
        return {"ok": True, "critical": False, "state": st["state"]}
    why = {"insecure": "the NATS server does not demand credentials; commands are refused",
           "auth_failed": "the NATS server refused Titan's credential"}.get(
        st["state"], f"NATS bus {st['state']}")
    if st["lastError"] and st["state"] != "insecure":
        why += f" ({st['lastError']})"
    return {"ok": False, "critical": False, "state": st["state"], "detail": why}
