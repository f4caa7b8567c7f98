"""Replay backtests (SPEC §15): stored market data through the same strategy code, gate,
sizing, phases and breaker, and the simulator's matching engine, on a replay clock.

`engine.Backtest` drives one run; `cli` is `titan backtest`; `report` and `html` write
`report.json` and `report.html`; `runs` starts runs in their own process for the API.
See docs/backtests.md.
"""
