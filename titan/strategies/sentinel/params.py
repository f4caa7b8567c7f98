"""Sentinel's tunable parameters and their ranges (STRATEGIES.md "Sentinel" defaults).

In the versioned config beside the risk limits (`titan.strategies.config`), changed by
the operator (later AI Quant) without a restart. The fixed rules — one-minute samples,
four taker fills to a round trip, long spot / short perp, trimming the larger leg — are
the strategy, not parameters. The ranges keep a typo from turning a rule off (a z of 0
to enter, a 50 % delta, clips bigger than the TWAP threshold).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from titan.strategies.sentinel.basis import Z_WINDOW
from titan.strategies.sentinel.carry import FUNDING_AGAINST_N, TAKER_FEE_PCT, Z_ENTRY, Z_EXIT
from titan.strategies.sentinel.monitors import DELTA_STOP_PCT, DELTA_WARN_PCT, MARGIN_MAX_PCT
from titan.strategies.sentinel.twap import (
    CLIP_USD,
    MAX_GAP_S,
    MAX_SLIPPAGE_PCT,
    MIN_GAP_S,
    TWAP_ABOVE_USD,
)

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
PAIR_EQUITY_PCT = 20.0


class SentinelParams(BaseModel):
    """The pairs, the entry and exit thresholds, slicing and the monitors (camelCase)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True,
                              allow_inf_nan=False)

    symbols: list[str] = Field(default_factory=lambda: list(SYMBOLS), min_length=1,
                               max_length=10,
                               description="coins traded as spot/perp pairs (BTC, ETH)")
    z_window: int = Field(Z_WINDOW, ge=20, le=240, alias="zWindow",
                          description="one-minute basis samples in the z-score")
    z_entry: float = Field(Z_ENTRY, ge=1.0, le=5.0, alias="zEntry",
                           description="the basis z-score that opens a pair")
    z_exit: float = Field(Z_EXIT, ge=-1.0, le=1.0, alias="zExit",
                          description="at or below it a pair in profit is unwound")
    taker_fee_pct: float = Field(TAKER_FEE_PCT, ge=0.0, le=0.5, alias="takerFeePct",
                                 description="taker fee per leg per fill, in %")
    pair_equity_pct: float = Field(PAIR_EQUITY_PCT, ge=1.0, le=50.0, alias="pairEquityPct",
                                   description="one pair's notional as a share of equity")
    twap_above_usd: float = Field(float(TWAP_ABOVE_USD), ge=1_000.0, le=100_000.0,
                                  alias="twapAboveUsd", description="orders above are sliced")
    clip_usd: float = Field(float(CLIP_USD), ge=50.0, le=5_000.0, alias="clipUsd",
                            description="the largest clip of a sliced order")
    min_gap_s: float = Field(MIN_GAP_S, ge=5.0, le=600.0, alias="minGapS")
    max_gap_s: float = Field(MAX_GAP_S, ge=5.0, le=600.0, alias="maxGapS")
    max_slippage_pct: float = Field(MAX_SLIPPAGE_PCT, ge=0.05, le=1.0, alias="maxSlippagePct",
                                    description="a clip this much worse aborts the rest")
    delta_warn_pct: float = Field(DELTA_WARN_PCT, ge=0.5, le=10.0, alias="deltaWarnPct")
    delta_stop_pct: float = Field(DELTA_STOP_PCT, ge=1.0, le=20.0, alias="deltaStopPct",
                                  description="entries stop and the pair is rebalanced")
    margin_max_pct: float = Field(MARGIN_MAX_PCT, ge=10.0, le=80.0, alias="marginMaxPct")
    funding_against_n: int = Field(FUNDING_AGAINST_N, ge=1, le=10, alias="fundingAgainstN",
                                   description="settlements paid in a row that unwind")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for s in self.symbols:
            if not (s.endswith("USDT") and 5 <= len(s) <= 20 and s.isalnum() and s.isupper()):
                raise ValueError(f"symbols: {s!r} is not a USDT pair like BTCUSDT")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols: listed twice")
        if self.min_gap_s > self.max_gap_s:
            raise ValueError("minGapS must not exceed maxGapS")
        if self.delta_warn_pct >= self.delta_stop_pct:
            raise ValueError("deltaWarnPct must be below deltaStopPct")
        if self.clip_usd > self.twap_above_usd:
            raise ValueError("clipUsd must not exceed twapAboveUsd")
        if self.z_exit >= self.z_entry:
            raise ValueError("zExit must be below zEntry")
        return self
