"""What the operator sees: the status view (`GET /api/status`, the console's snapshot)
and the positions view (`GET /api/state/positions`), read from a running Titan.

Views only read; every figure comes from the component that owns it (risk, ledger,
equity, reconciler, strategies). The positions view flags mismatches with the
reconciler's own classification, so the two can never disagree.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from titan import __version__
from titan.clock import iso_utc
from titan.domain.orders import Position
from titan.ops.nats_wiring import nats_status
from titan.venues.base import VenueError

if TYPE_CHECKING:
    from titan.core import Titan

NOT_STARTED = {"running": False, "status": "paused", "pauseReason": "not started",
               "armedTraps": [], "sprung": []}


def status_view(titan: Titan) -> dict[str, Any]:
    risk = titan.risk.status()
    wallet = titan.equity.wallet
    report = titan.reconciler.last_report if titan.reconciler is not None else None
    market = titan.market
    positions = [
        {"symbol": p.symbol, "side": p.side.value, "size": str(p.size),
         "entryPrice": str(p.entry_price), "unrealisedPnl": str(p.unrealised_pnl),
         "stopLoss": str(p.stop_loss) if p.stop_loss is not None else None,
         "takeProfit": str(p.take_profit) if p.take_profit is not None else None,
         "orphaned": p.orphaned, "strategy": p.strategy}
        for p in titan.ledger.positions.values()
    ]
    scavenger = titan.scavenger
    return {
        **risk,
        # The manual's names, kept; `venueConnected`/`feedConnected` say the same whatever
        # the execution venue and the signal feed are.
        "bybitConnected": market.venue_connected,
        "binanceConnected": market.feed_connected,
        "venueConnected": market.venue_connected,
        "feedConnected": market.feed_connected,
        "venue": {"name": titan.settings.venue.value,
                  "streams": {k: v.value for k, v in market.venue_streams.items()},
                  "feed": {k: v.value for k, v in market.feed_streams.items()}},
        "wallet": None if wallet is None else {
            "equity": str(wallet.equity), "walletBalance": str(wallet.wallet_balance),
            "available": str(wallet.available), "unrealisedPnl": str(wallet.unrealised_pnl)},
        "positions": positions,
        "openOrders": [o.as_dict() for o in titan.ledger.live_orders.values()],
        "strategies": {"paused": bool(titan.strategy_pauses),
                       "pauses": dict(titan.strategy_pauses)},
        "strategyList": titan.strategies.describe_all() if titan.strategies else [],
        "scavenger": scavenger.status() if scavenger is not None else dict(NOT_STARTED),
        "lastReconciliation": report.as_dict() if report is not None else None,
        "regime": titan.regime.status()["symbols"],  # SPEC §17, per symbol
        "configVersion": titan.config.version_tag,
        "nats": nats_status(titan.nats, bool(titan.settings.nats_url)),
        "notifications": titan.notifier.status(),
        "uptime_s": round(time.monotonic() - titan.started_monotonic, 1),
        "version": __version__,
        "serverTime": iso_utc(titan.clock.now()),
    }


def _side(p: Any) -> dict[str, Any]:
    return {"side": p.side.value, "size": str(p.size), "entryPrice": str(p.entry_price),
            "unrealisedPnl": str(p.unrealised_pnl),
            "stopLoss": None if p.stop_loss is None else str(p.stop_loss),
            "takeProfit": None if p.take_profit is None else str(p.take_profit)}


async def positions_view(titan: Titan) -> dict[str, Any]:
    """Shadow positions beside the venue's, with orphan and mismatch flags (SPEC §9)."""
    venue_error = ""
    venue_positions: dict[str, Position] = {}
    try:
        if titan.venue is None:
            raise VenueError("the venue is not connected yet")
        for p in await titan.venue.positions():
            if p.size > 0:
                venue_positions[p.symbol] = p
    except VenueError as exc:
        venue_error = f"venue unreadable: {exc}"
    mismatches: dict[str, str] = {}
    if not venue_error and titan.reconciler is not None:
        mismatches = {m.symbol: m.type for m in titan.reconciler.classify(venue_positions)}
    rows = []
    for symbol in sorted(set(titan.ledger.positions) | set(venue_positions)):
        s, v = titan.ledger.positions.get(symbol), venue_positions.get(symbol)
        shadow = None if s is None else {
            **_side(s), "orphaned": s.orphaned, "strategy": s.strategy,
            "openedAt": s.opened_at.isoformat()}
        rows.append({"symbol": symbol, "shadow": shadow,
                     "venue": None if v is None else _side(v),
                     "orphaned": bool(s is not None and s.orphaned),
                     "mismatch": mismatches.get(symbol)})
    report = titan.reconciler.last_report if titan.reconciler is not None else None
    return {"positions": rows, "venueError": venue_error or None,
            "lastReconciliation": report.as_dict() if report is not None else None}
