"""Hunter's tunable parameters and their ranges (STRATEGIES.md, Hunter defaults).

In the versioned config beside the risk limits (`titan.strategies.config`), changed by the
operator (later AI Quant) without a restart. The fixed rules of the issue (fractal width,
the score's parts, the management R multiples) are not parameters: they are the strategy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from titan.strategies.hunter.plan import STOP_PCT, TARGET_PCT
from titan.strategies.hunter.scan import FOCUS_N, TOP_N

SCAN_EVERY_S = 300.0
POI_EVERY_S = 60.0
UNIVERSE_N = 100
POI_NEAR_PCT = 0.5


class HunterParams(BaseModel):
    """The scan's cadence and breadth, the entry's nearness, stop and target (camelCase)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True,
                              allow_inf_nan=False)

    scan_every_s: float = Field(SCAN_EVERY_S, ge=60.0, le=3_600.0, alias="scanEveryS",
                                description="how often the universe is ranked")
    poi_every_s: float = Field(POI_EVERY_S, ge=15.0, le=600.0, alias="poiEveryS",
                               description="how often the top symbols' POIs are recomputed")
    universe_n: int = Field(UNIVERSE_N, ge=5, le=200, alias="universeN",
                            description="symbols by 24 h turnover the scan looks at")
    top_n: int = Field(TOP_N, ge=5, le=50, alias="topN", description="the ranked map's size")
    focus_n: int = Field(FOCUS_N, ge=1, le=10, alias="focusN",
                         description="the top symbols with POIs and order flow")
    poi_near_pct: float = Field(POI_NEAR_PCT, ge=0.1, le=2.0, alias="poiNearPct",
                                description="price within this of a same-direction POI")
    stop_pct: float = Field(STOP_PCT, ge=0.5, le=5.0, alias="stopPct")
    target_pct: float = Field(TARGET_PCT, ge=1.0, le=15.0, alias="targetPct")
