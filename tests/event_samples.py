"""One plausible payload per event class, for tests about the consumers of events (the
notifier, the metrics, the console, the bus) rather than their producers.

`sample(Cls, message=..., **fields)` builds a `Cls` with these fields, any of them
overridden. `tests/unit/test_events.py` checks that every event class of `titan.events`
has its sample here, so a new event cannot be added without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from titan import events as ev

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
E = TypeVar("E", bound=ev.Event)

SAMPLES: dict[type[ev.Event], dict[str, Any]] = {
    ev.SystemStarted: {"venue": "bybit", "db": "data/titan.db", "venue_connected": True,
                       "master_arm": "DISARMED", "halt_state": "OPEN"},
    ev.SystemStopping: {},
    ev.SentinelBasis: {"symbol": "ETHUSDT", "basis": 0.0004, "z": 2.1, "samples": 60,
                       "spot_price": "3000", "perp_price": "3001.2", "qty": "0.1",
                       "decision": "NO_FUNDING"},
    ev.SentinelPairEntered: {"pair_id": "sentinel:ETHUSDT:1", "symbol": "ETHUSDT",
                             "spot_qty": "0.1", "perp_qty": "0.1", "spot_price": "3000",
                             "reason": "z 2.3, carry 0.5 %"},
    ev.SentinelPairUnwound: {"pair_id": "sentinel:ETHUSDT:1", "symbol": "ETHUSDT",
                             "why": "CONVERGED", "spot_qty": "0.1", "perp_qty": "0.1",
                             "funding": "0.03"},
    ev.SentinelFunding: {"pair_id": "sentinel:ETHUSDT:1", "symbol": "ETHUSDT",
                         "rate": "0.0001", "payment": "0.03", "against": 0},
    ev.SentinelLegFailed: {"pair_id": "sentinel:ETHUSDT:1", "symbol": "ETHUSDT", "leg": "perp",
                           "why": "RISK_PER_TRADE_LIMIT", "reversal": "REVERSED",
                           "reversed_qty": "0.0999"},
    ev.SignalRejected: {"code": "LEVERAGE_LIMIT", "symbol": "BTCUSDT", "strategy": "scavenger",
                        "reason": "leverage 30x above 20x"},
    ev.OrderSizeReduced: {"symbol": "BTCUSDT", "decision": {"qty": "0.010"}},
    ev.OrderSubmitted: {"client_order_id": "c1", "symbol": "BTCUSDT", "side": "Buy",
                        "qty": "0.010", "status": "New", "strategy": "scavenger"},
    ev.OrderUpdated: {"client_order_id": "c1", "symbol": "BTCUSDT", "status": "Cancelled",
                      "strategy": "scavenger"},
    ev.OrderFilled: {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.010", "price": "63000",
                     "fee": "0.35", "exec_id": "e1", "client_order_id": "c1", "origin": None,
                     "strategy": "scavenger"},
    ev.OrderUnknown: {"client_order_id": "c1", "symbol": "BTCUSDT", "strategy": "scavenger"},
    ev.TradeClosed: {"symbol": "BTCUSDT", "net_pnl": "1.25", "reason": "take profit",
                     "strategy": "scavenger"},
    ev.TrapSprung: {"strategy": "scavenger", "symbol": "BTCUSDT", "trap_id": "t1",
                    "kind": "BB", "level": 63000.0, "direction": "LONG", "score": 80.0,
                    "trades": 50, "window_ms": 100, "price": 63001.0, "trade_ts_ms": 1,
                    "trade_id": 7, "outcome": "order c1 New"},
    ev.ScavengerStateChanged: {"running": True, "pauses": {}, "strategy": "scavenger"},
    ev.StrategySwitched: {"strategy": "scavenger", "enabled": False, "reason": "testing"},
    ev.BreakerTripped: {"rule": "CONSECUTIVE_LOSSES", "reason": "3 losses in a row",
                        "tripped_at": TS.isoformat(), "cooldown_until": TS.isoformat()},
    ev.BreakerReset: {"reason": "checked", "actor": "ops", "auto": False, "was_tripped": True,
                      "previous": {}},
    ev.RiskWarning: {"rule": "CONSECUTIVE_LOSSES"},
    ev.HaltChanged: {"from_state": "OPEN", "to": "SOFT_HALT", "state": "SOFT_HALT",
                     "reason": "storm", "actor": "ops"},
    ev.ArmChanged: {"from_state": "DISARMED", "to": "ARMED", "armed": True, "actor": "ops",
                    "reason": "ready"},
    ev.PhaseChanged: {"from_phase": 1, "to": 2, "phase_name": "Hunter", "equity": "5200",
                      "drop": False, "limits": {}},
    ev.RegimeChanged: {"symbol": "BTCUSDT", "regime": "CRASH", "previous": "STABLE",
                       "alpha": 1.4, "exceedance": 0.03, "clustering": 0.45, "samples": 1000},
    ev.KillSwitchActivated: {"actor": "ops", "accepted": True},
    ev.VenueDisconnected: {"venue": "bybit"},
    ev.VenueConnected: {"venue": "bybit"},
    ev.ShadowMismatch: {"mismatch_type": "SIZE_MISMATCH", "symbol": "BTCUSDT",
                        "trigger": "scheduled"},
    ev.Reconciled: {"trigger": "scheduled", "ok": True, "clean": True, "mismatches": 0},
    ev.ConfigChanged: {"version_tag": "2026-01-02T03:04:05Z", "actor": "ops"},
    ev.OperatorAction: {"action": "arm", "actor": "ops", "source": "api", "ip": None,
                        "success": True},
    ev.BackupDone: {"file": "backups/titan.db", "size_bytes": 4096, "seconds": 0.1,
                    "pruned": []},
    ev.DiskLow: {"folder": "data", "free_bytes": 0},
    ev.Alert: {},
    ev.BackupFailed: {"error": "disk full"},
    ev.StateNotSaved: {"component": "breaker", "error": "disk full"},
    ev.RiskStateUnreadable: {"unreadable": ["breaker"]},
    ev.StartedDisarmed: {"reconciliation_clean": True, "venue_connected": True},
    ev.HaltActionFailed: {"action": "flatten", "error": "venue down", "state": "HARD_HALT"},
    ev.OrderCancelledByVenue: {"client_order_id": "c1", "symbol": "BTCUSDT"},
    ev.ReconcileFailed: {"trigger": "scheduled"},
    ev.ActionInterrupted: {"action": "FLATTEN_ALL", "started_at": TS.isoformat()},
    ev.ExitsSentUnjournaled: {"client_order_ids": ["c1"], "error": "disk full"},
}


def sample(cls: type[E], message: str = "sample", ts: datetime = TS, **fields: Any) -> E:
    """A `cls` event with its sample payload, any field overridden by `fields`."""
    return cls(ts=ts, message=message, **{**SAMPLES[cls], **fields})
