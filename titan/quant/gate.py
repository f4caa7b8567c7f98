"""The hold-out gate (STRATEGIES.md "AI Quant"): what a candidate must show before it may
become a proposal. Pure: figures in, a verdict with every failed rule out.

On a hold-out window the search never saw, replayed with the same latency and slippage
model for both configs:

* the candidate's net PnL is strictly above the active config's;
* its max drawdown is at most 1.1 × the active config's;
* it made at least `min_trades` trades;
* no parameter is outside its range.

And a candidate that repeats a proposal rejected in the last 30 days is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

DD_FACTOR = Decimal("1.1")
REJECTED_MEMORY = timedelta(days=30)
DEFAULT_MIN_TRADES = 3


@dataclass(frozen=True, slots=True)
class Figures:
    """One config's backtest on one window."""

    net_pnl: Decimal
    max_drawdown: Decimal
    trades: int
    win_rate: float | None = None
    equity: tuple[tuple[int, float], ...] = ()

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Figures:
        curve = tuple((int(p[0]), float(p[1])) for p in report.get("equity_curve", []))
        return cls(Decimal(str(report["net_pnl"])), Decimal(str(report["max_drawdown"])),
                   int(report["trades"]), report.get("win_rate"), curve)

    def as_dict(self, with_curve: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"net_pnl": str(self.net_pnl),
                               "max_drawdown": str(self.max_drawdown),
                               "trades": self.trades, "win_rate": self.win_rate}
        if with_curve:
            out["equity_curve"] = [list(p) for p in self.equity]
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    failures: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": list(self.failures)}


def gate(active: Figures, candidate: Figures, *, min_trades: int,
         out_of_range: Iterable[str] = ()) -> Verdict:
    failures: list[str] = []
    if not candidate.net_pnl > active.net_pnl:
        failures.append(f"net PnL {candidate.net_pnl} does not beat the active config's "
                        f"{active.net_pnl}")
    limit = active.max_drawdown * DD_FACTOR
    if candidate.max_drawdown > limit:
        failures.append(f"max drawdown {candidate.max_drawdown} is above 1.1 × the active "
                        f"config's {active.max_drawdown} ({limit})")
    if candidate.trades < min_trades:
        failures.append(f"{candidate.trades} trades, fewer than the minimum {min_trades}")
    bad = sorted(out_of_range)
    if bad:
        failures.append(f"out of range: {', '.join(bad)}")
    return Verdict(not failures, tuple(failures))


def changes_key(changes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What makes two proposals "the same": the parameters and the values they move to."""
    return {name: c["to"] for name, c in sorted(changes.items())}


def recently_rejected(changes: Mapping[str, Mapping[str, Any]],
                      rejected: Iterable[tuple[datetime, Mapping[str, Any]]],
                      now: datetime) -> bool:
    """True when a proposal with the same changes was rejected in the last 30 days.
    `rejected` holds (decided at, that proposal's changes)."""
    key = changes_key(changes)
    return any(now - when <= REJECTED_MEMORY and changes_key(old) == key
               for when, old in rejected)
