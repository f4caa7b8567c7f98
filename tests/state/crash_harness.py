"""The process the crash test kills: a real Titan (API served) that trades against a sim.

Run as `python -m tests.state.crash_harness` with:
  HARNESS_SIM_URL, HARNESS_KEY, HARNESS_SECRET, HARNESS_DATA, HARNESS_PORT,
  HARNESS_STEPS (orders to attempt; 0 = only start and serve), HARNESS_SEED,
  HARNESS_FLATTEN_EVERY (flatten every n steps; 0 = never), HARNESS_LIMITS_ONLY (only
  resting limit entries), HARNESS_RECONCILE_EVERY (seconds between scheduled
  reconciliations; default Titan's 60 s), TITAN_CRASH_AT and TITAN_CRASH_REPORT (optional).

It builds `Titan` exactly as `titan run` does with TITAN_VENUE=bybit, serves the operator
API, and, once the start-up reconciliation has run, ARMs and sends entries (through the
real gate and execution engine), reduce-only exits, resting limit entries, cancels and
flattens — a test-only driver in place of the Scavenger. It prints `READY` when serving
and `DONE` when its steps are spent, then keeps serving until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from aiohttp import web

import titan.core as titan_core
from tests.helpers import SECRETS
from titan.app import create_app
from titan.core import Titan
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.logs import setup_logging
from titan.risk import HaltState
from titan.settings import Settings, VenueName

SYMBOLS = {"ETHUSDT": 3, "SOLUSDT": 3, "BTCUSDT": 2}  # the default whitelist -> max lots
# Only resting limit entries, no cancels: leaves Titan orders open on the venue at the kill.
LIMITS_ONLY = os.environ.get("HARNESS_LIMITS_ONLY") == "1"


def _q(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_DOWN) * step


def say(msg: str) -> None:
    print(msg, flush=True)


async def ensure_armed(titan: Titan) -> bool:
    if titan.risk.halt.state is not HaltState.OPEN:
        await titan.risk.set_halt(HaltState.OPEN, "crash harness resumes trading", "harness")
    if titan.risk.breaker.is_tripped():
        await titan.risk.reset_breaker("crash harness", "harness")
    if not titan.risk.arm_ctl.armed:
        try:
            await titan.risk.arm("crash harness", "harness")
        except Exception as exc:  # refused: report and go on with exits only
            say(f"ARM refused: {exc}")
            return False
    return True


async def one_step(titan: Titan, rng: random.Random, n: int) -> None:
    venue = titan.venue
    assert venue is not None
    symbol = rng.choice(sorted(SYMBOLS))
    inst = venue.instrument(symbol)
    price = titan.market.price(symbol)
    if inst is None or price is None:
        return
    pos = titan.ledger.positions.get(symbol)
    roll = 0.9 if LIMITS_ONLY else rng.random()
    if pos is not None and roll < 0.3:
        qty = pos.size if rng.random() < 0.6 else max(inst.qty_step, _q(pos.size / 2, inst.qty_step))
        intent = OrderIntent(intent_id=f"h-{uuid.uuid4().hex}", symbol=symbol,
                             side=pos.side.opposite, qty=qty, order_type=OrderType.MARKET,
                             reduce_only=True, strategy="scavenger")
    else:
        side = rng.choice([Side.BUY, Side.SELL])
        qty = inst.min_qty * rng.randint(1, SYMBOLS[symbol])
        limit = roll > 0.85
        away = Decimal("0.97") if side is Side.BUY else Decimal("1.03")
        ref = _q(price * away, inst.tick_size) if limit else price
        stop = _q(ref * (Decimal("0.995") if side is Side.BUY else Decimal("1.005")), inst.tick_size)
        # The venue checks a target against its last price, not against the limit.
        target = _q(price * (Decimal("1.006") if side is Side.BUY else Decimal("0.994")),
                    inst.tick_size)
        intent = OrderIntent(intent_id=f"h-{uuid.uuid4().hex}", symbol=symbol, side=side, qty=qty,
                             order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                             price=ref if limit else None, stop_loss=stop, take_profit=target,
                             leverage=Decimal(5), strategy="scavenger")
    res = await titan.execution.submit(intent, "crash harness")
    detail = res.denial.code.value if res.denial else res.error
    say(f"STEP {n} {symbol} {intent.side.value} {intent.qty} ro={intent.reduce_only} "
        f"-> {res.status.value if res.status else 'DENIED'} {detail}")


async def main() -> int:
    env = os.environ
    url = env["HARNESS_SIM_URL"]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=Path(env["HARNESS_DATA"]), port=int(env["HARNESS_PORT"]),
        venue=VenueName.BYBIT, bybit_url=url, binance_url=url,
        bybit_api_key=env["HARNESS_KEY"], bybit_api_secret=env["HARNESS_SECRET"])
    setup_logging("INFO", False)
    if env.get("HARNESS_RECONCILE_EVERY"):
        # Titan reads the schedule's interval when it starts its jobs: a short one puts the
        # scheduled reconciliation (and its crash point) inside a short run.
        titan_core.RECONCILE_EVERY_S = float(env["HARNESS_RECONCILE_EVERY"])
    titan = Titan(settings, secrets=SECRETS)
    runner = web.AppRunner(create_app(titan), access_log=None)
    await runner.setup()  # runs titan.start(): start-up reconciliation included
    site = web.TCPSite(runner, "127.0.0.1", settings.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    say("READY")
    steps = int(env.get("HARNESS_STEPS", "0"))
    flatten_every = int(env.get("HARNESS_FLATTEN_EVERY", "0"))
    rng = random.Random(int(env.get("HARNESS_SEED", "1")))
    if steps:
        # Give the market data a moment to arrive (the gate refuses stale data).
        for _ in range(50):
            if all(titan.market.price(s) is not None for s in SYMBOLS):
                break
            await asyncio.sleep(0.1)
        for n in range(steps):
            if stop.is_set():
                break
            if flatten_every and n and n % flatten_every == 0:
                result = await titan.execution.flatten_all()
                say(f"FLATTEN success={result['success']} closed={result['positions_closed']}")
            elif n % 7 == 6 and not LIMITS_ONLY:
                cancelled = await titan.execution.cancel_orders(titan_only=True)
                say(f"CANCEL {len(cancelled['cancelled'])}")
            else:
                await ensure_armed(titan)
                await one_step(titan, rng, n)
            await asyncio.sleep(rng.uniform(0.02, 0.12))
        say("DONE")
    await stop.wait()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
