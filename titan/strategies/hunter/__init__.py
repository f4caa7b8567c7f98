"""Hunter, the Phase 2 strategy (STRATEGIES.md, Hunter; docs/hunter.md).

Pure rules: `structure` (fractals, BOS, trend, MSS, dealing range, veto, RS), `poi` (FVGs,
order blocks, liquidity pools, confluence), `orderflow` (CVD, absorption/distribution),
`score` (score, grade, sessions), `plan` (entry, sizing, limits, cancel/retry), `manage`
(break-even, the 2R partial, ATR trail, loss streak), `scan` (one symbol's view, the
ranked map, POI sets). Put to work by `strategy.Hunter` and `trading.Trader`; its
records in `store`; its registry entry in `wiring`.
"""
