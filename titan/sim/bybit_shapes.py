"""Engine objects rendered the way Bybit v5 renders them (REST results and private
stream payloads share these shapes). Every number is a string, as on Bybit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from titan.sim.matching import (
    MMR,
    ZERO,
    Account,
    MatchingEngine,
    SimExecution,
    SimOrder,
    SimPosition,
)


def num(d: Decimal | None, places: int | None = None) -> str:
    """Decimal → Bybit-style string: no exponent, trailing zeros trimmed unless
    `places` fixes the scale."""
    if d is None:
        return "0"
    if places is not None:
        return f"{d.quantize(Decimal(1).scaleb(-places)):f}"
    s = f"{d.normalize():f}"
    return s if s != "-0" else "0"


def _px(engine: MatchingEngine, symbol: str, d: Decimal | None) -> str:
    if d is None:
        return "0"
    return num(d, engine.specs[symbol].price_scale)


def order(engine: MatchingEngine, o: SimOrder) -> dict[str, Any]:
    avg = o.avg_price
    return {
        "orderId": o.order_id,
        "orderLinkId": o.link_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": _px(engine, o.symbol, o.price),
        "qty": num(o.qty),
        "side": o.side,
        "isLeverage": "0" if o.category == "spot" else "",
        "positionIdx": 0,
        "orderStatus": o.status,
        "createType": o.create_type,
        "cancelType": o.cancel_type,
        "rejectReason": o.reject_reason,
        "avgPrice": num(avg.quantize(Decimal("0.00000001"))) if avg is not None else "",
        "leavesQty": num(o.leaves_qty),
        "leavesValue": num(o.leaves_qty * (o.price or ZERO)),
        "cumExecQty": num(o.cum_qty),
        "cumExecValue": num(o.cum_value),
        "cumExecFee": num(o.cum_fee),
        # Bybit (2025): the fee per coin it was charged in; empty before any fill.
        "cumFeeDetail": {o.fee_coin: num(o.cum_fee)} if o.cum_qty > 0 else {},
        "timeInForce": o.tif,
        "orderType": o.order_type,
        "stopOrderType": o.stop_order_type,
        "orderIv": "",
        "marketUnit": o.market_unit,
        "triggerPrice": "",
        "takeProfit": _px(engine, o.symbol, o.take_profit) if o.take_profit else "",
        "stopLoss": _px(engine, o.symbol, o.stop_loss) if o.stop_loss else "",
        "tpslMode": "Full" if (o.take_profit or o.stop_loss) else "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "LastPrice" if o.take_profit else "",
        "slTriggerBy": "LastPrice" if o.stop_loss else "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": o.stop_order_type != "",
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(o.created_ms),
        "updatedTime": str(o.updated_ms),
    }


def execution(engine: MatchingEngine, e: SimExecution) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "orderId": e.order_id,
        "orderLinkId": e.link_id,
        "side": e.side,
        "orderPrice": _px(engine, e.symbol, e.order_price),
        "orderQty": num(e.order_qty),
        "leavesQty": num(e.leaves_qty),
        "createType": e.create_type,
        "orderType": e.order_type,
        "stopOrderType": e.stop_order_type,
        "execFee": num(e.fee),
        "execId": e.exec_id,
        "execPrice": _px(engine, e.symbol, e.price),
        "execQty": num(e.qty),
        "execType": e.exec_type,
        "execValue": num(e.value),
        "execTime": str(e.time_ms),
        "feeCurrency": e.fee_coin if e.category == "spot" else "",
        "isMaker": e.is_maker,
        "feeRate": num(e.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": _px(engine, e.symbol, e.mark_price),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": num(e.closed_size),
        "seq": e.seq,
        # Realised PnL of this fill net of nothing (Bybit: execPnl excludes the fee).
        "execPnl": num(e.realised_pnl),
        "marketUnit": e.market_unit,
        "extraFees": "",
        "isLeverage": "0" if e.category == "spot" else "",
    }


def position(engine: MatchingEngine, p: SimPosition) -> dict[str, Any]:
    mark = engine.last[p.symbol]
    size = abs(p.size)
    return {
        "positionIdx": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": p.symbol,
        "side": p.side,
        "size": num(size),
        "avgPrice": num(p.avg_price.quantize(Decimal("0.00000001"))) if size else "0",
        "positionValue": num(size * p.avg_price) if size else "0",
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2 if size else 0,
        "leverage": num(p.leverage),
        "positionBalance": num(engine.position_im(p)),
        "markPrice": _px(engine, p.symbol, mark),
        "liqPrice": _px(engine, p.symbol, engine.liq_price(p)) if size else "",
        "bustPrice": _px(engine, p.symbol, engine.bust_price(p)) if size else "",
        "positionMM": num(size * mark * MMR),
        "positionIM": num(engine.position_im(p)),
        "tpslMode": "Full",
        "takeProfit": _px(engine, p.symbol, p.take_profit) if p.take_profit else "0",
        "stopLoss": _px(engine, p.symbol, p.stop_loss) if p.stop_loss else "0",
        "trailingStop": "0",
        "unrealisedPnl": num(engine.unrealised(p)),
        "curRealisedPnl": num(p.cur_realised),
        "cumRealisedPnl": num(p.cum_realised),
        "seq": p.seq,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "sessionAvgPrice": "",
        "createdTime": str(p.created_ms),
        "updatedTime": str(p.updated_ms),
    }


def wallet(engine: MatchingEngine, acc: Account) -> dict[str, Any]:
    equity = engine.equity(acc)
    coins_value = engine.coin_value(acc)
    upl = equity - acc.wallet_balance - coins_value
    pos_im = engine.total_position_im(acc)
    ord_im = engine.order_im(acc) + engine.spot_locked(acc)
    mm = sum((abs(p.size) * engine.last[p.symbol] * Decimal("0.005")
              for p in acc.positions.values()), ZERO)
    avail = equity - pos_im - ord_im
    return {
        "accountType": "UNIFIED",
        "accountIMRate": num((pos_im + ord_im) / equity, 4) if equity > 0 else "0",
        "accountMMRate": num(mm / equity, 4) if equity > 0 else "0",
        "accountLTV": "0",
        "totalEquity": num(equity),
        "totalWalletBalance": num(acc.wallet_balance + coins_value),
        "totalMarginBalance": num(equity),
        "totalAvailableBalance": num(max(avail, ZERO)),
        "totalPerpUPL": num(upl),
        "totalInitialMargin": num(pos_im + ord_im),
        "totalMaintenanceMargin": num(mm),
        "coin": [{
            "coin": "USDT",
            "equity": num(acc.wallet_balance + upl),
            "usdValue": num(acc.wallet_balance + upl),
            "walletBalance": num(acc.wallet_balance),
            "free": "",
            "locked": "0",
            "spotHedgingQty": "0",
            "borrowAmount": "0",
            "availableToWithdraw": "",
            "availableToBorrow": "",
            "accruedInterest": "0",
            "totalOrderIM": num(ord_im),
            "totalPositionIM": num(pos_im),
            "totalPositionMM": num(mm),
            "unrealisedPnl": num(upl),
            "cumRealisedPnl": num(acc.cum_realised),
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
        }, *(_coin_row(c, q, engine.spot_last.get(c + "USDT", ZERO))
             for c, q in sorted(acc.coins.items()) if q != 0)],
    }


def _coin_row(coin: str, qty: Decimal, price: Decimal) -> dict[str, Any]:
    """A spot holding in the unified wallet's coin list."""
    value = num(qty * price)
    return {"coin": coin, "equity": num(qty), "usdValue": value, "walletBalance": num(qty),
            "free": "", "locked": "0", "spotHedgingQty": "0", "borrowAmount": "0",
            "availableToWithdraw": "", "availableToBorrow": "", "accruedInterest": "0",
            "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0",
            "unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0",
            "marginCollateral": True, "collateralSwitch": True}
