"""AI Quant's insights (STRATEGIES.md "AI Quant"): deterministic rules over the journal.

No outside service and no randomness: the same journal gives the same insights. The rules:

* fewer than `MIN_TRADES` (5) closed trades → no insight, the briefing says why;
* a bucket by UTC hour of entry, by regime at entry, or by signal (trap) kind with a win
  rate below 40 % over at least 3 trades is flagged;
* a symbol with a win rate below 35 % (at least 3 trades) is flagged;
* a run of at least 5 losses in a row (in closing order) is flagged;
* confidence = min(0.9, 0.5 + 0.1 × the number of flagged buckets).

Every insight carries its evidence: the trades counted, the wins, the net PnL, the ids.
A trade with net PnL > 0 is a win; zero or less is a loss (fees make a flat trade a loss).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

MIN_TRADES = 5
BUCKET_MIN_N = 3
BUCKET_WIN_RATE = 0.40
SYMBOL_WIN_RATE = 0.35
LOSS_RUN = 5
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class JournalTrade:
    """One closed round trip as the insights see it."""

    id: int
    symbol: str
    net_pnl: Decimal
    opened_at: datetime
    closed_at: datetime
    strategy: str = ""
    regime: str = UNKNOWN
    signal_kind: str = "unknown"

    @property
    def win(self) -> bool:
        return self.net_pnl > 0


@dataclass(frozen=True, slots=True)
class Insight:
    kind: str  # hour | regime | signal_kind | symbol | loss_run
    key: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "message": self.message,
                "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class InsightReport:
    enough: bool
    trades: int
    insights: tuple[Insight, ...]
    confidence: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"enough": self.enough, "trades": self.trades, "confidence": self.confidence,
                "note": self.note, "insights": [i.as_dict() for i in self.insights]}


def _evidence(trades: Sequence[JournalTrade]) -> dict[str, Any]:
    wins = sum(1 for t in trades if t.win)
    return {"trades": len(trades), "wins": wins,
            "win_rate": round(wins / len(trades), 4) if trades else 0.0,
            "net_pnl": str(sum((t.net_pnl for t in trades), Decimal(0))),
            "trade_ids": [t.id for t in trades]}


def _buckets(trades: Sequence[JournalTrade], kind: str, label: str,
             key: Callable[[JournalTrade], str], below: float) -> list[Insight]:
    groups: dict[str, list[JournalTrade]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    out: list[Insight] = []
    for name in sorted(groups):
        group = groups[name]
        if len(group) < BUCKET_MIN_N:
            continue
        ev = _evidence(group)
        if ev["win_rate"] < below:
            out.append(Insight(kind, name, (
                f"{label} {name}: {ev['wins']} of {ev['trades']} trades won "
                f"({ev['win_rate']:.0%}, below {below:.0%}); net {ev['net_pnl']} USDT"), ev))
    return out


def _loss_runs(trades: Sequence[JournalTrade]) -> list[Insight]:
    ordered = sorted(trades, key=lambda t: (t.closed_at, t.id))
    out: list[Insight] = []
    run: list[JournalTrade] = []
    for t in [*ordered, None]:
        if t is not None and not t.win:
            run.append(t)
            continue
        if len(run) >= LOSS_RUN:
            ev = _evidence(run)
            ev.update(first=run[0].closed_at.isoformat(), last=run[-1].closed_at.isoformat())
            out.append(Insight("loss_run", f"{run[0].id}-{run[-1].id}", (
                f"{len(run)} losses in a row from {ev['first']} to {ev['last']}; "
                f"net {ev['net_pnl']} USDT"), ev))
        run = []
    return out


def insights(trades: Sequence[JournalTrade]) -> InsightReport:
    """The insights of these closed trades (any order)."""
    if len(trades) < MIN_TRADES:
        return InsightReport(False, len(trades), (), 0.0, (
            f"too few trades for insights: {len(trades)} closed, at least {MIN_TRADES} needed"))
    found: list[Insight] = []
    found += _buckets(trades, "hour", "entries at hour (UTC)",
                      lambda t: f"{t.opened_at.hour:02d}", BUCKET_WIN_RATE)
    found += _buckets(trades, "regime", "regime", lambda t: t.regime or UNKNOWN,
                      BUCKET_WIN_RATE)
    found += _buckets(trades, "signal_kind", "signal kind",
                      lambda t: t.signal_kind or "unknown", BUCKET_WIN_RATE)
    found += _buckets(trades, "symbol", "symbol", lambda t: t.symbol, SYMBOL_WIN_RATE)
    found += _loss_runs(trades)
    confidence = round(min(0.9, 0.5 + 0.1 * len(found)), 2)
    note = "" if found else f"no weak bucket in {len(trades)} trades"
    return InsightReport(True, len(trades), tuple(found), confidence, note)
