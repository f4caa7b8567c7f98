"""Sentinel, the Phase 3 strategy: long Bybit spot against a short Bybit perpetual of the
same coin, earning the basis and the funding while delta-neutral (STRATEGIES.md "Sentinel",
docs/strategies-sentinel.md).

The rules are pure modules (no clock, no I/O): `basis` (depth-weighted prices, the
one-minute z-score), `carry` (the entry test and the unwind rules), `twap` (slicing and
the slippage abort), `monitors` (delta, margin, regime). The strategy that trades them
on the platform is built on top.
"""
