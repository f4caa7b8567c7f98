"""The emergency actions' spot half (SPEC §8, §16): flatten, the kill switch and
HARD_HALT sell the coins Titan bought, as well as closing the perpetuals; cancel-all
covers the spot orders. "Flatten all closes all positions" holds for a spot-and-perp book.

Only Titan's coins are sold (`SpotBook.holdings`, capped by what the wallet holds): the
operator's own coins in the same account are not Titan's to sell. Each sell is an intent
first (`SpotExecutor`), a market order in the coin, and is then verified against the
venue: the sell's executions are read back and recorded (once, by id), and the coin is
flat when what Titan still holds is below one lot step — or below the venue's minimum
order value, which no order can sell (dust, reported as such).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from titan.clock import Clock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.execution.spot import SpotExecutor
from titan.state.spot_book import SpotBook
from titan.venues.base import SpotVenue, VenueError, exit_lane
from titan.venues.instruments import round_qty

ROUNDS = 3
BACKOFF_S = (0.0, 0.3, 1.0)
CATCH_UP_LOOKBACK_MS = 10 * 60_000
VALUE_BELOW_MIN = "170140"  # Bybit: "Order value exceeded lower limit" — dust, unsellable


class SpotFlatten:
    def __init__(self, spot: SpotVenue, book: SpotBook, executor: SpotExecutor,
                 clock: Clock) -> None:
        self.spot, self.book, self.executor, self.clock = spot, book, executor, clock

    async def cancel_all(self) -> dict[str, Any]:
        try:
            with exit_lane():
                cancelled = await self.spot.cancel_all()
        except VenueError as exc:
            return {"success": False, "cancelled": [], "error": str(exc)}
        return {"success": True, "cancelled": cancelled}

    async def _sellable(self, coin: str, wallet: dict[str, Decimal]) -> tuple[Decimal, str]:
        """(qty to sell now, why not when 0): Titan's holding, capped by the wallet, on
        the lot step; 0 with "dust" when below a step or the minimum order value."""
        symbol = coin + "USDT"
        inst = (await self.spot.load(symbol)).inst
        qty = round_qty(min(self.book.held(coin), wallet.get(coin, Decimal(0))), inst)
        if qty <= 0 or qty < inst.min_qty:
            return Decimal(0), "dust"
        return qty, ""

    async def _catch_up(self) -> None:
        """Record the spot executions the stream has not delivered yet (a buy filled a
        moment ago is Titan's coins too): the fresh read the sells are decided on."""
        last = await self.book.last_fill_ms()
        since = None if last is None else last - CATCH_UP_LOOKBACK_MS
        with exit_lane():
            fills = await self.spot.executions(since_ms=since)
        for f in fills:
            await self.book.apply_fill(f)

    async def flatten(self) -> dict[str, Any]:
        """Cancel every spot order, sell Titan's coins, verify; up to `ROUNDS` rounds."""
        cancel = await self.cancel_all()
        errors: dict[str, str] = {}
        # What the rounds cannot clear: a failed cancel-all, an unreadable catch-up.
        catch_up = "" if cancel["success"] else f"spot cancel-all failed: {cancel['error']}"
        try:
            await self._catch_up()
        except VenueError as exc:  # Titan's holdings may lag: not verified flat
            catch_up = catch_up or f"spot executions unreadable: {exc}"
        sold: dict[str, Decimal] = {}
        dust: set[str] = set()
        coins = sorted(self.book.holdings)
        for round_no in range(ROUNDS):
            await asyncio.sleep(BACKOFF_S[round_no])
            try:
                wallet = await self.spot.coins()
            except VenueError as exc:
                errors["*"] = f"wallet unreadable: {exc}"
                continue
            todo = [(c, *(await self._sellable(c, wallet))) for c in coins]
            sells = [(c, q) for c, q, _ in todo if q > 0 and c not in dust]
            if not sells:
                errors.pop("*", None)
                break
            stamp = self.clock.time_ms()
            results = await asyncio.gather(*(self._sell(c, q, stamp, round_no) for c, q in sells))
            for (coin, qty), (ok, err) in zip(sells, results, strict=True):
                if ok:
                    sold[coin] = sold.get(coin, Decimal(0)) + qty
                    errors.pop(coin, None)
                elif VALUE_BELOW_MIN in err:
                    dust.add(coin)
                else:
                    errors[coin] = err
        out = []
        for coin in coins:
            left = self.book.held(coin)
            if coin in errors or (left > 0 and coin not in dust
                                  and (await self._left(coin)) > 0):
                out.append({"coin": coin, "success": False, "left": str(left),
                            "error": errors.get(coin, "coins still held")})
            else:
                out.append({"coin": coin, "success": True, "sold": str(sold.get(coin, 0)),
                            **({"dust": str(left)} if left > 0 else {})})
        if catch_up and "*" not in errors:
            errors["*"] = catch_up
        return {"success": all(r["success"] for r in out) and "*" not in errors,
                "coins_sold": sum(1 for c in sold if sold[c] > 0), "results": out,
                "cancelled": cancel.get("cancelled", []),
                **({"error": errors["*"]} if "*" in errors else {})}

    async def _left(self, coin: str) -> Decimal:
        try:
            wallet = await self.spot.coins()
        except VenueError:
            return self.book.held(coin)
        return (await self._sellable(coin, wallet))[0]

    async def _sell(self, coin: str, qty: Decimal, stamp: int,
                    round_no: int) -> tuple[bool, str]:
        symbol = coin + "USDT"
        intent = OrderIntent(intent_id=f"flatten:spot:{coin}:{stamp}:{round_no}", symbol=symbol,
                             side=Side.SELL, qty=qty, order_type=OrderType.MARKET,
                             strategy="flatten")
        with exit_lane():
            res = await self.executor.submit(intent, "flatten: sell the spot leg")
            if res.status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN, None):
                return False, res.error or str(res.status)
            try:  # verified against the venue: its executions, recorded once
                for f in await self.spot.executions(symbol, since_ms=stamp - 60_000):
                    await self.book.apply_fill(f)
            except VenueError as exc:
                return False, f"sell sent, not verified: {exc}"
        return True, ""

    async def verify_flat(self) -> dict[str, Any]:
        """What Titan still holds in spot and the spot orders still open (the kill switch's
        check, beside the perpetuals')."""
        await self._catch_up()
        with exit_lane():
            orders = await self.spot.open_orders()
            wallet = await self.spot.coins()
        held = []
        for coin in sorted(self.book.holdings):
            qty, _ = await self._sellable(coin, wallet)
            if qty > 0:
                held.append({"coin": coin, "qty": str(qty)})
        return {"spot_holdings": held,
                "spot_orders": [{"symbol": o.symbol, "clientOrderId": o.client_order_id,
                                 "side": o.side.value, "qty": str(o.qty)} for o in orders]}
