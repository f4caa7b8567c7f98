"""The regime live, on a paper Titan (the in-process simulator over real sockets).

At start Titan warms each streamed symbol up from the venue's last 1,000 one-minute bars
(the simulator's seeded backfill), so every regime is known within seconds, not after
100 minutes: one REGIME_CHANGED per symbol (UNKNOWN → its regime) in the events journal,
`titan_regime_alpha` in /metrics, the table in /api/regime and /api/status. With seed 2
the simulator's ADAUSDT has a fat tail (α ≈ 1.8 < 2): once whitelisted, a leverage-10
entry on it is refused with TAIL_RISK_VETO, and the same entry at 5x passes the gate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import SECRETS, auth_header
from titan.app import create_app
from titan.core import Titan
from titan.domain import OrderIntent, OrderType, ReasonCode, Side
from titan.risk.regime import Regime
from titan.settings import Settings

Client = TestClient[Any, Any]
H = auth_header()
SEED = 2  # the simulator's ADAUSDT: α < 2 over its last 1,000 backfilled minutes
FAT = "ADAUSDT"


async def _until(cond: Callable[[], Any], what: str, limit_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not (value := cond()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def test_paper_titan_warms_up_publishes_and_vetoes_a_fat_tail(
        data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> None:
    settings = Settings(data_dir=data_dir, sim_bursts_per_minute=0, sim_seed=SEED,  # type: ignore[call-arg]
                        _env_file=None)
    titan = Titan(settings, secrets=SECRETS)
    events: list[Any] = []
    titan.bus.subscribe(events.append)
    client = await aiohttp_client(create_app(titan))
    assert titan.universe is not None
    streamed = set(titan.universe.streamed)

    def changed() -> dict[str, Any]:
        return {e.symbol: e for e in events if e.name == "REGIME_CHANGED"}

    await _until(lambda: set(changed()) == streamed, "every streamed symbol's regime")
    for symbol, e in changed().items():
        assert e.previous == "UNKNOWN" and e.regime != "UNKNOWN", e.message
        assert e.alpha is not None and e.samples >= 990  # warmed up: ~1,000 returns at once
        assert titan.regime.regime(symbol).value == e.regime
    fat = titan.regime.reading(FAT)
    assert fat.alpha is not None and fat.alpha < 2, (
        f"the simulator's {FAT} at seed {SEED} no longer has a fat tail: {fat}")

    # Journaled (AI Quant reads these rows by name and data["symbol"], data["regime"]).
    await titan.journal.flush()
    resp = await client.get("/api/events?name=REGIME_CHANGED&limit=50", headers=H)
    assert resp.status == 200
    rows = (await resp.json())["items"]
    assert {r["data"]["symbol"] for r in rows} == streamed
    row = next(r for r in rows if r["data"]["symbol"] == FAT)
    assert row["data"]["regime"] == fat.regime.value and row["data"]["previous"] == "UNKNOWN"
    assert row["data"]["alpha"] == fat.alpha

    text = await (await client.get("/metrics")).text()
    assert f'titan_regime_alpha{{symbol="{FAT}"}} {fat.alpha}' in text
    assert f'titan_regime{{regime="{fat.regime.value}",symbol="{FAT}"}} 1.0' in text

    body = await (await client.get("/api/regime", headers=H)).json()
    assert set(body["symbols"]) == streamed and body["symbols"][FAT]["alpha"] == fat.alpha
    status = await (await client.get("/api/status", headers=H)).json()
    assert status["regime"][FAT]["regime"] == fat.regime.value

    # The veto, on the real order path: whitelist the symbol, ARM, a fresh price.
    resp = await client.post("/api/console/config/whitelist", headers=H,
                             json={"action": "add", "symbol": FAT})
    assert resp.status == 200, await resp.text()
    resp = await client.post("/api/console/arm", headers=H, json={"armed": True, "reason": "t"})
    assert resp.status == 200, await resp.text()
    price = Decimal(str(await _until(lambda: titan.market.prices.get(FAT), "a price")))
    assert titan.simulator is not None
    titan.simulator.set_price(FAT, price)
    await asyncio.sleep(0.3)  # the ticker arrives: market data fresh

    def intent(leverage: int) -> OrderIntent:
        return OrderIntent(intent_id=f"regime-{leverage}", symbol=FAT, side=Side.BUY,
                           qty=Decimal(10), order_type=OrderType.LIMIT,
                           price=(price * Decimal("0.99")).quantize(price),
                           stop_loss=(price * Decimal("0.98")).quantize(price),
                           take_profit=(price * Decimal("1.03")).quantize(price),
                           leverage=Decimal(leverage), strategy="scavenger")

    result = await titan.execution.submit(intent(10), "regime test")
    assert result.denial is not None and result.denial.code is ReasonCode.TAIL_RISK_VETO
    rejected = [e for e in events if e.name == "SIGNAL_REJECTED"]
    assert rejected and rejected[-1].code == "TAIL_RISK_VETO"
    # The same entry at 5x passes the gate (asked without sending: nothing is placed).
    market = titan.execution.market_context(FAT)
    assert titan.risk.gate_entry(intent(5), market) is None
    # A thin-tailed symbol keeps its leverage (BTCUSDT is not fat at this seed).
    assert titan.regime.regime("BTCUSDT") is not Regime.UNKNOWN
