"""`/sim/control/...`: drive faults, prices and accounts from outside the process.

Loopback only and unauthenticated by design: it is a test harness, never exposed. Every
endpoint mirrors an in-process `Simulator` method so in- and out-of-process tests use
the same vocabulary.
"""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan.sim.matching import Reject

if TYPE_CHECKING:
    from titan.sim.server import Simulator


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def control_routes(sim: Simulator) -> list[web.RouteDef]:
    async def body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    def guard(fn: Any) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not _loopback(request):
                raise web.HTTPForbidden(text="control API answers loopback only")
            try:
                result = await fn(request)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
                return web.json_response({"ok": False, "error": str(e)}, status=400)
            except Reject as e:
                return web.json_response({"ok": False, "error": e.msg, "code": e.code},
                                         status=409)
            return web.json_response({"ok": True, **(result or {})})
        return handler

    async def get_faults(request: web.Request) -> dict[str, Any]:
        return {"faults": sim.faults.snapshot()}

    async def set_faults(request: web.Request) -> dict[str, Any]:
        sim.faults.update(**await body(request))
        return {"faults": sim.faults.snapshot()}

    async def reset_faults(request: web.Request) -> dict[str, Any]:
        sim.faults.reset()
        return {"faults": sim.faults.snapshot()}

    async def drop(request: web.Request) -> dict[str, Any]:
        return {"closed": await sim.drop_streams((await body(request)).get("kind"))}

    async def silence(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        sim.silence_streams(b.get("kind"), bool(b.get("silent", True)))
        return {"faults": sim.faults.snapshot()}

    async def price(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        t = sim.set_price(str(b["symbol"]), str(b["price"]))
        return {"price": str(t.price), "trade_id": t.trade_id}

    async def burst(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        trades = sim.emit_trades(str(b["symbol"]), str(b["price"]), int(b.get("count", 60)),
                                 float(b.get("spread_ms", 50)))
        return {"count": len(trades), "first_id": trades[0].trade_id if trades else None,
                "last_id": trades[-1].trade_id if trades else None}

    async def feed(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        rate = float(b.get("trades_per_s", 0))
        if rate <= 0:
            sim.stop_feed()
        else:
            sim.start_feed(rate, b.get("symbols"))
        return {}

    async def prices(request: web.Request) -> dict[str, Any]:
        return {"prices": {s: str(sim.market.last(s)) for s in sim.engine.specs}}

    def key_of(request: web.Request) -> str:
        key = request.match_info["key"]
        if key not in sim.engine.accounts:
            raise KeyError(f"unknown account {key}")
        return key

    async def account(request: web.Request) -> dict[str, Any]:
        data = sim.inspect(key_of(request))
        what = request.match_info.get("what")
        if what:
            data = {what: data[what]}
        link = request.query.get("orderLinkId")
        if link is not None and "orders" in data:
            data["orders"] = [o for o in data["orders"] if o["orderLinkId"] == link]
        return data

    async def close_position(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        return {"closed": sim.close_position_by_hand(key_of(request), str(b["symbol"]))}

    async def open_position(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        sim.open_position_by_hand(key_of(request), str(b["symbol"]), str(b["side"]),
                                  Decimal(str(b["qty"])))
        return {}

    async def liquidate(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        return {"liquidated": sim.liquidate(key_of(request), str(b["symbol"]))}

    async def cancel_order(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        sim.cancel_order_by_venue(key_of(request), str(b["symbol"]),
                                  order_id=b.get("orderId"), link_id=b.get("orderLinkId"))
        return {}

    async def get_config(request: web.Request) -> dict[str, Any]:
        c = sim.config
        return {"config": {"slippage_bps": str(c.slippage_bps), "latency_ms": c.latency_ms,
                           "taker_fee": str(c.taker_fee), "maker_fee": str(c.maker_fee),
                           "seed": c.seed, "symbols": list(c.symbols),
                           "accounts": sorted(c.accounts)}}

    async def set_config(request: web.Request) -> dict[str, Any]:
        """Tune matching on the fly: slippage_bps, latency_ms, taker_fee, maker_fee."""
        b = await body(request)
        c = sim.config
        for name in ("slippage_bps", "taker_fee", "maker_fee"):
            if name in b:
                setattr(c, name, Decimal(str(b[name])))
        if "latency_ms" in b:
            c.latency_ms = float(b["latency_ms"])
        unknown = set(b) - {"slippage_bps", "taker_fee", "maker_fee", "latency_ms"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        return await get_config(request)

    async def add_account(request: web.Request) -> dict[str, Any]:
        b = await body(request)
        sim.add_account(str(b["key"]), str(b["secret"]))
        return {}

    async def settle_funding(request: web.Request) -> dict[str, Any]:
        """Run the funding settlement that is due next, now (the 8-hour clock, driven)."""
        at = sim.funding.next_ms
        return {"settled_at": at, "positions": sim.settle_funding(),
                "next_funding_time": sim.funding.next_ms}

    async def latency(request: web.Request) -> dict[str, Any]:
        rec = sim.recorder
        return {"trades": [[t.stream, t.symbol, t.trade_id, t.ns] for t in rec.trades],
                "orders": [[o.venue, o.key, o.client_id, o.ns] for o in rec.orders]}

    p = "/sim/control"
    return [
        web.get(f"{p}/faults", guard(get_faults)),
        web.post(f"{p}/faults", guard(set_faults)),
        web.post(f"{p}/faults/reset", guard(reset_faults)),
        web.post(f"{p}/streams/drop", guard(drop)),
        web.post(f"{p}/streams/silence", guard(silence)),
        web.post(f"{p}/price", guard(price)),
        web.post(f"{p}/burst", guard(burst)),
        web.post(f"{p}/feed", guard(feed)),
        web.get(f"{p}/prices", guard(prices)),
        web.get(f"{p}/recorder", guard(latency)),
        web.post(f"{p}/funding/settle", guard(settle_funding)),
        web.get(f"{p}/config", guard(get_config)),
        web.post(f"{p}/config", guard(set_config)),
        web.post(f"{p}/accounts", guard(add_account)),
        web.get(f"{p}/accounts/{{key}}", guard(account)),
        web.get(f"{p}/accounts/{{key}}/{{what:orders|positions|wallet|executions}}",
                guard(account)),
        web.post(f"{p}/accounts/{{key}}/close-position", guard(close_position)),
        web.post(f"{p}/accounts/{{key}}/open-position", guard(open_position)),
        web.post(f"{p}/accounts/{{key}}/liquidate", guard(liquidate)),
        web.post(f"{p}/accounts/{{key}}/cancel-order", guard(cancel_order)),
    ]
