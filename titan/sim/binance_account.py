"""Binance USD-M account reads: `GET /fapi/v2/account` and `GET /fapi/v1/leverageBracket`.

Both render the shared `MatchingEngine` account (one USDT wallet, one-way positions),
so they agree with `/fapi/v2/balance`, `positionRisk` and Bybit's wallet. The simulator
has one maintenance tier (`accounts.MMR`) up to the symbol's maximum leverage, so each
symbol has exactly one leverage bracket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan.sim.binance import BinanceError
from titan.sim.bybit_shapes import num
from titan.sim.matching import MMR, ZERO

if TYPE_CHECKING:
    from titan.sim.binance import BinanceFront

# Notional up to which the single bracket applies (Binance's top BTC tier is of this order).
BRACKET_CAP = 1_000_000_000


def account_routes(front: BinanceFront) -> list[web.RouteDef]:
    h = front._handle
    return [
        web.get("/fapi/v2/account", h(lambda r, k, p: _account(front, k), signed=True)),
        web.get("/fapi/v3/account", h(lambda r, k, p: _account(front, k), signed=True)),
        web.get("/fapi/v1/leverageBracket",
                h(lambda r, k, p: _brackets(front, p), signed=True)),
    ]


async def _account(front: BinanceFront, key: str) -> dict[str, Any]:
    eng = front.sim.engine
    acc = eng.account(key)
    now = front.sim.now_ms()
    wallet = acc.wallet_balance
    upl = sum((eng.unrealised(p) for p in acc.positions.values()), ZERO)
    pos_im = eng.total_position_im(acc)
    ord_im = eng.order_im(acc)
    maint = sum((abs(p.size) * eng.last[p.symbol] * MMR for p in acc.positions.values()), ZERO)
    avail = max(eng.available(acc), ZERO)
    margin = wallet + upl
    totals = {
        "totalInitialMargin": num(pos_im + ord_im), "totalMaintMargin": num(maint),
        "totalWalletBalance": num(wallet), "totalUnrealizedProfit": num(upl),
        "totalMarginBalance": num(margin), "totalPositionInitialMargin": num(pos_im),
        "totalOpenOrderInitialMargin": num(ord_im), "totalCrossWalletBalance": num(wallet),
        "totalCrossUnPnl": num(upl), "availableBalance": num(avail),
        "maxWithdrawAmount": num(avail),
    }
    asset = {
        "asset": "USDT", "walletBalance": num(wallet), "unrealizedProfit": num(upl),
        "marginBalance": num(margin), "maintMargin": num(maint),
        "initialMargin": num(pos_im + ord_im), "positionInitialMargin": num(pos_im),
        "openOrderInitialMargin": num(ord_im), "crossWalletBalance": num(wallet),
        "crossUnPnl": num(upl), "availableBalance": num(avail),
        "maxWithdrawAmount": num(avail), "marginAvailable": True, "updateTime": now,
    }
    positions = []
    for sym in eng.specs:  # v2 lists every symbol, flat ones too
        pos = acc.positions.get(sym)
        size = pos.size if pos is not None else ZERO
        lev = pos.leverage if pos is not None else acc.leverage.get(
            sym, front.sim.config.default_leverage)
        entry = pos.avg_price if pos is not None and size != 0 else ZERO
        im = eng.position_im(pos) if pos is not None and size != 0 else ZERO
        upnl = eng.unrealised(pos) if pos is not None else ZERO
        positions.append({
            "symbol": sym, "initialMargin": num(im),
            "maintMargin": num(abs(size) * eng.last[sym] * MMR),
            "unrealizedProfit": num(upnl), "positionInitialMargin": num(im),
            "openOrderInitialMargin": "0", "leverage": num(lev), "isolated": False,
            "entryPrice": num(entry), "breakEvenPrice": num(entry),
            "maxNotional": str(BRACKET_CAP), "bidNotional": "0", "askNotional": "0",
            "positionSide": "BOTH", "positionAmt": num(size),
            "updateTime": pos.updated_ms if pos is not None else 0,
        })
    return {"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True,
            "canWithdraw": True, "updateTime": 0, "multiAssetsMargin": False,
            "tradeGroupId": -1, **totals, "assets": [asset], "positions": positions}


async def _brackets(front: BinanceFront, p: dict[str, str]) -> Any:
    eng = front.sim.engine
    sym = p.get("symbol")
    if sym is not None and sym not in eng.specs:
        raise BinanceError(-1121, "Invalid symbol.")

    def row(s: str) -> dict[str, Any]:
        return {"symbol": s, "brackets": [{
            "bracket": 1, "initialLeverage": int(eng.specs[s].max_leverage),
            "notionalCap": BRACKET_CAP, "notionalFloor": 0,
            "maintMarginRatio": float(MMR), "cum": 0.0}]}

    # Binance answers a list, or one object when a symbol was named.
    return row(sym) if sym else [row(s) for s in eng.specs]

