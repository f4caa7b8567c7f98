"""Shared by the out-of-band and crash tests: a simulator account, Titan against it, and
polling helpers that say what they were waiting for when they give up."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from titan.domain.orders import OrderIntent, OrderType, Side
from titan.execution.engine import SubmitResult

KEY, SECRET = "oob-key", "oob-secret"
T = TypeVar("T")


def titan_settings(sim_url: str, **extra: Any) -> dict[str, Any]:
    return {"venue": "bybit", "bybit_url": sim_url, "binance_url": sim_url,
            "bybit_api_key": KEY, "bybit_api_secret": SECRET, **extra}


async def eventually(probe: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
                     what: str, within: float = 10.0, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail saying `what` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within}s waiting for: {what} (last: {last!r})")


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def reports(db: Path) -> list[dict[str, Any]]:
    return [json.loads(r["report"]) for r in rows(db, "SELECT report FROM reconciliations ORDER BY id")]


def mismatch_types(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m["type"], m["symbol"]) for m in report["mismatches"]}


def market_intent(n: str, symbol: str, side: Side, qty: str, price: Decimal,
                  *, reduce_only: bool = False) -> OrderIntent:
    stop = None if reduce_only else (price * (Decimal("0.9") if side is Side.BUY else Decimal("1.1")))
    return OrderIntent(intent_id=f"oob-{n}", symbol=symbol, side=side, qty=Decimal(qty),
                       order_type=OrderType.MARKET, reduce_only=reduce_only,
                       stop_loss=None if stop is None else stop.quantize(Decimal("0.01")),
                       leverage=Decimal(5), strategy="scavenger")


def accepted(res: SubmitResult) -> SubmitResult:
    assert res.accepted, f"order not accepted: {res}"
    return res
