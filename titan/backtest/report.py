"""`report.json`: the figures of a run, computed from its round trips and equity curve.

Money figures come from the engine's `Decimal` bookings (exact to 1e-8 USDT) and are
written as strings; ratios are floats rounded to 6 places. The statistics over the
equity curve use numpy: drawdown is the running peak minus equity (numpy's
`maximum.accumulate`), Sharpe and Sortino are over the per-minute returns of the curve,
annualised by √(minutes a year) (crypto trades every minute of the year), Sortino's
denominator the root mean square of the negative returns (the downside deviation).
Nothing in the report depends on the machine or the wall clock, so two runs of the same
input write the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from titan.backtest.engine import BacktestResult
from titan.backtest.trades import RoundTrip

ZERO = Decimal(0)
MINUTES_A_YEAR = 365 * 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _r(x: float) -> float | None:
    """Rounded for stable text; None for what has no value (e.g. a ratio over nothing)."""
    if not np.isfinite(x):
        return None
    return round(float(x), 6)


def trade_stats(trips: Iterable[RoundTrip]) -> dict[str, Any]:
    trips = list(trips)
    nets = [t.net for t in trips]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n <= 0]
    won = sum(wins, ZERO)
    lost = -sum(losses, ZERO)
    if lost > 0:
        pf: float | None = _r(float(won / lost))
    else:
        pf = None  # no losing trade: the ratio has no finite value
    return {
        "trades": len(trips),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": _r(len(wins) / len(trips)) if trips else None,
        "gross_pnl": str(sum((t.gross for t in trips), ZERO)),
        "fees": str(sum((t.fees for t in trips), ZERO)),
        "funding": str(sum((t.funding for t in trips), ZERO)),
        "net_pnl": str(sum(nets, ZERO)),
        "profit_factor": pf,
        "average_net": str((sum(nets, ZERO) / len(nets)).quantize(Decimal("0.00000001")))
        if nets else None,
    }


def curve_stats(equity: list[tuple[int, float]]) -> dict[str, Any]:
    values = np.array([v for _, v in equity], dtype=np.float64)
    if values.size == 0:
        return {"max_drawdown": 0.0, "max_drawdown_pct": 0.0, "sharpe": None, "sortino": None}
    peak = np.maximum.accumulate(values)
    dd = peak - values
    dd_pct = np.divide(dd, peak, out=np.zeros_like(dd), where=peak > 0)
    returns = np.diff(values) / values[:-1] if values.size > 1 else np.array([])
    sharpe = sortino = None
    if returns.size > 1:
        sd = float(np.std(returns, ddof=1))
        mean = float(np.mean(returns))
        if sd > 0:
            sharpe = _r(mean / sd * np.sqrt(MINUTES_A_YEAR))
        downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))
        if downside > 0:
            sortino = _r(mean / downside * np.sqrt(MINUTES_A_YEAR))
    return {"max_drawdown": _r(float(dd.max())), "max_drawdown_pct": _r(float(dd_pct.max())),
            "sharpe": sharpe, "sortino": sortino}


def exposure(trips: Iterable[RoundTrip], start_ms: int, end_ms: int) -> float:
    """Share of the replayed time with at least one position open."""
    spans = sorted((t.opened_ms, t.closed_ms if t.closed_ms is not None else end_ms)
                   for t in trips)
    covered = 0
    cur_lo = cur_hi = None
    for lo, hi in spans:
        if cur_hi is None or lo > cur_hi:
            if cur_hi is not None and cur_lo is not None:
                covered += cur_hi - cur_lo
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_hi is not None and cur_lo is not None:
        covered += cur_hi - cur_lo
    return _r(covered / max(1, end_ms - start_ms)) or 0.0


def _by(trips: list[RoundTrip], key: str) -> dict[str, Any]:
    groups: dict[str, list[RoundTrip]] = {}
    for t in trips:
        groups.setdefault(str(getattr(t, key)), []).append(t)
    return {k: trade_stats(v) for k, v in sorted(groups.items())}


def build_report(result: BacktestResult, *, config: Mapping[str, Any],
                 data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    spec = result.spec
    trips = result.round_trips
    stats = trade_stats(trips)
    curve = curve_stats(result.equity)
    report: dict[str, Any] = {
        "strategy": spec.strategy,
        "symbols": list(spec.symbols),
        **stats,
        **curve,
        "exposure": exposure(trips, spec.start_ms, spec.end_ms),
        "start_equity": str(result.start_equity),
        "end_equity": str(result.end_equity),
        "return_pct": _r(float((result.end_equity - result.start_equity)
                               / result.start_equity * 100)) if result.start_equity else None,
        "per_strategy": _by(trips, "strategy"),
        "per_signal_kind": _by(trips, "signal_kind"),
        "per_symbol": _by(trips, "symbol"),
        "orders": {"sent": result.orders_sent, "rejected_by_venue": result.orders_rejected,
                   "denied_by_gate_or_strategy": result.rejections},
        "events_published": result.published,
        "config": dict(config),
        "data_range": {
            "start": iso_ms(spec.start_ms), "end": iso_ms(spec.end_ms),
            "start_ms": spec.start_ms, "end_ms": spec.end_ms,
            "first_event": iso_ms(result.first_event_ms),
            "last_event": iso_ms(result.last_event_ms),
            "events": result.events,
            "execution_prices": {s: ("bybit" if s in result.venue_priced
                                     else "binance (no bybit data stored: signal trades "
                                          "stand in for the perpetual)")
                                 for s in spec.symbols},
            **(dict(data) if data else {}),
        },
        "trade_list": [t.as_dict() for t in trips],
        "equity_curve": [[ts, round(v, 8)] for ts, v in result.equity],
        "prices": {s: [[ts, px] for ts, px in pts] for s, pts in sorted(result.prices.items())},
    }
    return report


def dumps(report: Mapping[str, Any]) -> str:
    """The file's text: sorted keys, fixed indentation, a final newline."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
