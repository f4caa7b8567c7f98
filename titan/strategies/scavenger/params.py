"""The Scavenger's tunable parameters and their ranges (SPEC §6 defaults).

They live in config versions beside the risk limits (`titan.strategies.config`): an
operator — later AI Quant — changes them without a restart. The ranges are wide enough
to tune and narrow enough that a typo cannot turn a rule off (a 1-trade "spring", a
5-minute window, a cancel after an hour).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from titan.strategies.scavenger.orders import LIMIT_CANCEL_AFTER_MS
from titan.strategies.scavenger.scoring import ATR_PERIOD, CONFLUENCE_PCT
from titan.strategies.scavenger.springs import BAND_PCT, COOLDOWN_MS, MIN_TRADES, WINDOW_MS
from titan.strategies.scavenger.tripwires import BOLLINGER_K, BOLLINGER_PERIOD

MAX_DRIFT_PCT = 0.5


class ScavengerParams(BaseModel):
    """Spring detection, entry and scoring parameters (camelCase in the API)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True,
                              allow_inf_nan=False)

    min_trades: int = Field(MIN_TRADES, ge=10, le=500, alias="minTrades",
                            description="trades within the window that spring a trap")
    window_ms: int = Field(WINDOW_MS, ge=20, le=2_000, alias="windowMs",
                           description="the spring's time window")
    band_pct: float = Field(BAND_PCT, ge=0.01, le=1.0, alias="bandPct",
                            description="how near the level (in %) a trade counts")
    cooldown_ms: int = Field(COOLDOWN_MS, ge=10_000, le=3_600_000, alias="cooldownMs",
                             description="a sprung level stays quiet this long")
    max_drift_pct: float = Field(MAX_DRIFT_PCT, ge=0.05, le=2.0, alias="maxDriftPct",
                                 description="Bybit's price must be this near the level")
    limit_cancel_after_s: float = Field(LIMIT_CANCEL_AFTER_MS / 1000.0, ge=0.5, le=30.0,
                                        alias="limitCancelAfterS",
                                        description="an unfilled limit entry is cancelled after")
    atr_period: int = Field(ATR_PERIOD, ge=5, le=50, alias="atrPeriod")
    confluence_pct: float = Field(CONFLUENCE_PCT, ge=0.05, le=2.0, alias="confluencePct")
    bollinger_period: int = Field(BOLLINGER_PERIOD, ge=10, le=50, alias="bollingerPeriod")
    bollinger_k: float = Field(BOLLINGER_K, ge=1.0, le=4.0, alias="bollingerK")
