"""The NATS bridge against a real nats-server run with the shipped config (credentials
demanded): the runbook's exact payloads, sent with the operator's credential, are obeyed,
malformed ones change nothing, and the bridge comes back after a server restart."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from loguru import logger

from tests.helpers import free_port, make_titan
from tests.natsd import NatsServer
from titan.ops.nats_bridge import Handlers, NatsBridge, parse_halt, parse_update

pytestmark = pytest.mark.e2e
TS = 1769779200  # stands in for $(date +%s)

# The runbook's payloads, character for character, with $(date +%s) replaced by a number.
RUNBOOK = [
    ("titan.cmd.sys.halt",
     '{"state":"HARD_HALT","reason":"Emergency stop by operator","timestamp":' + str(TS) + '}'),
    ("titan.cmd.sys.halt",
     '{"state":"SOFT_HALT","reason":"Scheduled maintenance","timestamp":' + str(TS) + '}'),
    ("titan.cmd.sys.halt",
     '{"state":"OPEN","reason":"Resuming operations","timestamp":' + str(TS) + '}'),
    ("titan.cmd.sys.halt", '{"state":"HARD_HALT","reason":"Manual rollback"}'),
    ("titan.cmd.sys.halt", '{"state":"OPEN","reason":"Rollback complete"}'),
    ("titan.cmd.risk.reload", "{}"),
    ("titan.cmd.risk.update", '{"maxAccountLeverage": 5.0}'),
]
EXPECTED = [
    ("halt", "HARD_HALT", "Emergency stop by operator", "nats"),
    ("halt", "SOFT_HALT", "Scheduled maintenance", "nats"),
    ("halt", "OPEN", "Resuming operations", "nats"),
    ("halt", "HARD_HALT", "Manual rollback", "nats"),
    ("halt", "OPEN", "Rollback complete", "nats"),
    ("reload", "nats"),
    ("update", {"maxLeverage": 5.0}, "nats"),
]
MALFORMED = [
    ("titan.cmd.sys.halt", '{"state":"HARD_HALT"}'),                       # no reason
    ("titan.cmd.sys.halt", '{"state":"PANIC","reason":"x"}'),              # unknown state
    ("titan.cmd.sys.halt", '{"state":"HARD_HALT","reason":"  "}'),         # blank reason
    ("titan.cmd.sys.halt", '{"state":"OPEN","reason":"x","timestamp":"now"}'),
    ("titan.cmd.sys.halt", '{"state":"OPEN","reason":"x","extra":1}'),
    ("titan.cmd.sys.halt", "HARD_HALT"),                                   # not JSON
    ("titan.cmd.sys.halt", '["HARD_HALT"]'),
    ("titan.cmd.risk.reload", '{"now": true}'),
    ("titan.cmd.risk.update", "{}"),
    ("titan.cmd.risk.update", '{"maxAccountLeverage": "5"}'),
    ("titan.cmd.risk.update", '{"maxAccountLeverage": true}'),
    ("titan.cmd.risk.update", '{"leverage": 5}'),
    ("titan.cmd.risk.update", '{"maxAccountLeverage": 5, "maxLeverage": 6}'),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(free_port(), tmp_path / "nats.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.changed = asyncio.Event()

    async def on_halt(self, state: str, reason: str, actor: str) -> None:
        self.calls.append(("halt", state, reason, actor))
        self.changed.set()

    async def on_risk_update(self, changes: dict[str, Any], actor: str) -> None:
        self.calls.append(("update", changes, actor))
        self.changed.set()

    async def on_risk_reload(self, actor: str) -> None:
        self.calls.append(("reload", actor))
        self.changed.set()

    def handlers(self) -> Handlers:
        return Handlers(self.on_halt, self.on_risk_update, self.on_risk_reload)


@pytest.fixture
async def bridge(server: NatsServer) -> AsyncIterator[tuple[NatsBridge, Recorder]]:
    rec = Recorder()
    b = NatsBridge(server.titan_url, rec.handlers(), reconnect_wait_s=0.2)
    b.start()
    assert await b.wait_connected(within_s=10)
    try:
        yield b, rec
    finally:
        await b.stop()


async def _wait_calls(rec: Recorder, n: int, within_s: float = 5) -> None:
    deadline = time.monotonic() + within_s
    while len(rec.calls) < n and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_runbook_payloads_are_obeyed_and_malformed_ones_refused(
        server: NatsServer, bridge: tuple[NatsBridge, Recorder]) -> None:
    _, rec = bridge
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    pub = await nats.connect(server.operator_url)
    try:
        for subject, payload in MALFORMED:
            await pub.publish(subject, payload.encode())
        for subject, payload in RUNBOOK:
            await pub.publish(subject, payload.encode())
        await pub.flush()
        await _wait_calls(rec, len(EXPECTED))
        assert rec.calls == EXPECTED  # the malformed ones before them changed nothing
        refused = [line for line in lines if "NATS_COMMAND_REFUSED" in line]
        assert len(refused) == len(MALFORMED) and all("why=" in line for line in refused)
        # request/reply says why
        reply = await pub.request("titan.cmd.sys.halt", b'{"state":"PANIC","reason":"x"}',
                                  timeout=5)
        assert b'"ok": false' in reply.data and b"state" in reply.data
        reply = await pub.request("titan.cmd.risk.reload", b"{}", timeout=5)
        assert reply.data == b'{"ok": true}'
    finally:
        logger.remove(sink)
        await pub.close()


async def test_failing_handler_is_reported(server: NatsServer) -> None:
    async def boom(*args: Any) -> None:
        raise RuntimeError("halt controller unavailable")

    b = NatsBridge(server.titan_url, Handlers(boom, boom, boom))
    b.start()
    try:
        assert await b.wait_connected(within_s=10)
        result = await b.handle("titan.cmd.sys.halt", b'{"state":"OPEN","reason":"x"}')
        assert result == {"ok": False, "error": "halt controller unavailable"}
    finally:
        await b.stop()


async def test_reconnects_after_the_server_restarts(server: NatsServer,
                                                   bridge: tuple[NatsBridge, Recorder]) -> None:
    b, rec = bridge
    server.stop()
    deadline = time.monotonic() + 10
    while b.connected.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert not b.connected.is_set()
    await asyncio.to_thread(server.start)
    assert await b.wait_connected(within_s=15)
    pub = await nats.connect(server.operator_url)
    try:
        deadline = time.monotonic() + 10
        while not rec.calls and time.monotonic() < deadline:
            await pub.publish("titan.cmd.sys.halt",
                              b'{"state":"HARD_HALT","reason":"after restart"}')
            await pub.flush()
            await asyncio.sleep(0.2)
        assert rec.calls and rec.calls[0] == ("halt", "HARD_HALT", "after restart", "nats")
    finally:
        await pub.close()


async def test_bridge_starts_while_the_server_is_down_and_connects_later(tmp_path: Path) -> None:
    port = free_port()
    rec = Recorder()
    srv = NatsServer(port, tmp_path / "late.log")
    b = NatsBridge(srv.titan_url, rec.handlers(), reconnect_wait_s=0.2)
    b.start()  # nothing listens yet: start must not fail
    try:
        await asyncio.sleep(0.3)
        assert not b.connected.is_set()
        await asyncio.to_thread(srv.start)
        assert await b.wait_connected(within_s=15)
    finally:
        await b.stop()
        srv.stop()


def _runbook_text() -> str | None:
    root = Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared" / "seeds", Path("/work/shared/seeds")):
        for f in sorted(candidate.glob("*.txt")) if candidate.is_dir() else []:
            if "titan.cmd.sys.halt" in f.read_text():
                return f.read_text()
    return None


def test_payloads_are_the_runbooks() -> None:
    """RUNBOOK above is the runbook's `nats pub` lines; they are sent below with the
    operator's credential, as docs/operations.md tells the operator to give it."""
    text = _runbook_text()
    if text is None:  # the planning documents are not beside this checkout
        return
    flat = re.sub(r"\\\n\s*", "", text)  # join the runbook's continued lines
    published = re.findall(r"nats pub (titan\.cmd\.[a-z.]+) '(.*?)'(\$\(date \+%s\)'\}')?",
                           flat)
    seen = [(s, p + (str(TS) + "}" if tail else "")) for s, p, tail in published]
    assert seen == RUNBOOK


def test_parsers_directly() -> None:
    assert parse_halt(b'{"state":"OPEN","reason":" ok "}').reason == "ok"
    assert parse_update(b'{"whitelist": ["BTCUSDT"], "maxRiskPerTrade": 0.01}') == {
        "whitelist": ["BTCUSDT"], "maxRiskPerTrade": 0.01}


async def test_real_titan_obeys_the_runbook_over_nats(server: NatsServer, tmp_path: Path) -> None:
    """The runbook's commands, verbatim, move a real Titan's halt state and config."""
    titan = make_titan(tmp_path / "data", nats_url=server.titan_url)
    await titan.start()
    try:
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
        first_tag = titan.config.version_tag
        pub = await nats.connect(server.operator_url)
        expected_states = ["HARD_HALT", "SOFT_HALT", "OPEN", "HARD_HALT", "OPEN"]
        for (subject, payload), state in zip(RUNBOOK[:5], expected_states, strict=True):
            reply = await pub.request(subject, payload.encode(), timeout=10)
            assert json.loads(reply.data) == {"ok": True}, (payload, reply.data)
            assert titan.risk.halt.state.value == state, payload
        assert titan.risk.arm_ctl.armed is False  # HARD_HALT disarmed; OPEN does not re-arm

        for subject, payload in MALFORMED:
            reply = await pub.request(subject, payload.encode(), timeout=10)
            assert json.loads(reply.data)["ok"] is False, payload
        assert titan.risk.halt.state.value == "OPEN" and titan.config.version_tag == first_tag

        reply = await pub.request(RUNBOOK[5][0], RUNBOOK[5][1].encode(), timeout=10)
        assert json.loads(reply.data) == {"ok": True}
        reply = await pub.request(RUNBOOK[6][0], RUNBOOK[6][1].encode(), timeout=10)
        assert json.loads(reply.data) == {"ok": True}
        await pub.close()
        assert titan.config.version_tag != first_tag
        assert titan.config.active.max_leverage == 5
        assert titan.risk.config.max_leverage == 5  # in effect without a restart
        rows = await titan.db.fetch_all(
            "SELECT actor, source, action, success FROM audit_log WHERE source='nats'")
        assert [r["action"] for r in rows].count("halt") == 5
        assert {"config.risk.update", "config.risk.reload"} <= {r["action"] for r in rows}
    finally:
        await titan.stop()
    assert titan.nats is None


async def test_a_strategy_is_switched_over_nats_through_the_audited_path(
        server: NatsServer, tmp_path: Path) -> None:
    titan = make_titan(tmp_path / "data", nats_url=server.titan_url)
    await titan.start()
    try:
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
        first_tag = titan.config.version_tag
        pub = await nats.connect(server.operator_url)
        subject = "titan.cmd.strategy.set"
        for bad in ('{"strategy": "scavenger", "enabled": false}',  # no reason
                    '{"strategy": "scavenger", "reason": "nothing to change"}',
                    '{"strategy": "nosuch", "enabled": false, "reason": "x"}',
                    '{"strategy": "scavenger", "enabled": "no", "reason": "x"}',
                    '{"strategy": "scavenger", "params": {"minTrades": 1}, "reason": "x"}'):
            reply = json.loads((await pub.request(subject, bad.encode(), timeout=10)).data)
            assert reply["ok"] is False, bad
        assert titan.config.version_tag == first_tag and titan.config.strategies[
            "scavenger"].enabled
        reply = await pub.request(subject, b'{"strategy": "scavenger", "enabled": false,'
                                           b' "reason": "bus test"}', timeout=10)
        assert json.loads(reply.data) == {"ok": True}
        await pub.close()
        assert titan.config.version_tag != first_tag
        assert titan.config.strategies["scavenger"].enabled is False
        assert titan.strategies is not None
        assert "operator" in titan.strategies.pauses_of("scavenger")
        rows = await titan.db.fetch_all(
            "SELECT action, success, params FROM audit_log WHERE source='nats'"
            " AND action='strategy.change' ORDER BY id")
        # The two refused by the config service (unknown strategy, a bad parameter) and
        # the obeyed one are audited as strategy changes; malformed payloads as refusals.
        assert [r["success"] for r in rows] == [0, 0, 1]
        assert json.loads(rows[-1]["params"])["reason"] == "bus test"
    finally:
        await titan.stop()
