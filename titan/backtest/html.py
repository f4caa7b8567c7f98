"""`report.html`: one self-contained page (plotly's JavaScript inlined, no server, no
network) with the equity curve, the drawdown, every trade marked on the price, and the
tables of report.json.

The charts are plotly figures (`plotly.graph_objects`), not hand-drawn SVG; the tables are
plain HTML escaped with `html.escape`. The page is written from report.json's content
alone, so it shows exactly what the JSON says.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

_HEADLINE = ("trades", "net_pnl", "gross_pnl", "fees", "funding", "win_rate", "profit_factor",
             "max_drawdown", "max_drawdown_pct", "sharpe", "sortino", "exposure",
             "start_equity", "end_equity", "return_pct")
_STATS = ("trades", "wins", "losses", "win_rate", "gross_pnl", "fees", "funding", "net_pnl",
          "profit_factor")
_TRADE_COLS = ("symbol", "side", "signalKind", "openedMs", "closedMs", "qty", "entryPrice",
               "exitPrice", "grossPnl", "fees", "funding", "netPnl", "exitReason")


def _t(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _cell(v: Any, key: str = "") -> str:
    if v is None:
        return "—"
    if key.endswith("Ms") and isinstance(v, int):
        return _t(v).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return html.escape(str(v))


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c), c)}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _breakdown(title: str, groups: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [{"name": k, **v} for k, v in groups.items()]
    return f"<h2>{html.escape(title)}</h2>" + _table(rows, ("name", *_STATS), "breakdown")


def equity_figure(report: Mapping[str, Any]) -> go.Figure:
    curve = report.get("equity_curve") or []
    xs = [_t(ts) for ts, _ in curve]
    ys = [v for _, v in curve]
    peak: list[float] = []
    for v in ys:
        peak.append(max(v, peak[-1]) if peak else v)
    dd = [p - v for p, v in zip(peak, ys, strict=True)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.06, subplot_titles=("Equity (USDT)", "Drawdown (USDT)"))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="equity",
                             line={"color": "#2f81f7"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=[-d for d in dd], mode="lines", name="drawdown",
                             fill="tozeroy", line={"color": "#f85149"}), row=2, col=1)
    fig.update_layout(height=480, margin={"l": 60, "r": 20, "t": 40, "b": 30},
                      template="plotly_white", showlegend=False)
    return fig


def price_figure(report: Mapping[str, Any], symbol: str) -> go.Figure:
    pts = (report.get("prices") or {}).get(symbol) or []
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[_t(ts) for ts, _ in pts], y=[p for _, p in pts], mode="lines",
                             name=f"{symbol} price", line={"color": "#8b949e"}))
    trades = [t for t in report.get("trade_list") or [] if t.get("symbol") == symbol]
    for kind, colour, symbol_name in (("entry", "#2da44e", "triangle-up"),
                                      ("exit", "#cf222e", "x")):
        xs, ys, texts = [], [], []
        for t in trades:
            fills = t.get("fills") or []
            for f in fills:
                is_entry = f.get("kind") == "Order" and (f.get("side") == "Buy") == (
                    t.get("side") == "long")
                if is_entry == (kind == "entry"):
                    xs.append(_t(int(f["ts"])))
                    ys.append(float(f["price"]))
                    texts.append(f"{t.get('side')} {f.get('qty')} @ {f.get('price')} "
                                 f"({f.get('kind')}) net {t.get('netPnl')}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=kind, text=texts,
                                 hoverinfo="text+x",
                                 marker={"color": colour, "size": 11, "symbol": symbol_name}))
    fig.update_layout(height=360, margin={"l": 60, "r": 20, "t": 40, "b": 30},
                      template="plotly_white", title=f"{symbol}: every trade on the price")
    return fig


def render(report: Mapping[str, Any]) -> str:
    figs = [equity_figure(report)] + [price_figure(report, s) for s in report.get("symbols", [])]
    charts = "".join(
        f.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{i}",
                  config={"displaylogo": False})
        for i, f in enumerate(figs))
    head_rows = "".join(f"<tr><th>{k}</th><td>{_cell(report.get(k))}</td></tr>" for k in _HEADLINE)
    rng = report.get("data_range") or {}
    title = (f"Backtest {report.get('strategy')} {', '.join(report.get('symbols', []))} "
             f"{rng.get('start')} → {rng.get('end')}")
    trades = _table(report.get("trade_list") or [], _TRADE_COLS, "trades")
    cfg = html.escape(_json(report.get("config")))
    data = html.escape(_json(rng))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#1f2328}}
table{{border-collapse:collapse;margin:8px 0 20px;font-size:13px}}
th,td{{border:1px solid #d0d7de;padding:4px 8px;text-align:right}}
th{{background:#f6f8fa}} td:first-child,th:first-child{{text-align:left}}
pre{{background:#f6f8fa;padding:10px;font-size:12px;overflow:auto}}
</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>{html.escape(title)}</h1>
<table class="headline" id="headline">{head_rows}</table>
{charts}
{_breakdown("Per strategy", report.get("per_strategy") or {})}
{_breakdown("Per signal kind", report.get("per_signal_kind") or {})}
{_breakdown("Per symbol", report.get("per_symbol") or {})}
<h2>Trades</h2>{trades}
<h2>Configuration</h2><pre>{cfg}</pre>
<h2>Data</h2><pre>{data}</pre>
</body></html>
"""


def _json(value: Any) -> str:
    import json
    return json.dumps(value, indent=2, sort_keys=True)


def write_html(report: Mapping[str, Any], path: Path) -> None:
    path.write_text(render(report), encoding="utf-8")
