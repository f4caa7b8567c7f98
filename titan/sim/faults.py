"""Fault injection state: what the next venue requests and streams should suffer.

The REST middleware and the stream hubs consult one `Faults` object; tests flip its
fields in-process or through `/sim/control/faults`. Counters ("next N") decrement as
they fire so a test can say exactly how many requests fail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

AmbiguousMode = Literal["close", "5xx"]
# Stream families a fault can target.
STREAM_KINDS = ("bybit_public", "bybit_private", "binance_spot", "binance_user")


@dataclass(slots=True)
class Faults:
    latency_ms: float = 0.0
    http_5xx_next: int = 0
    http_5xx_fraction: float = 0.0
    http_5xx_status: int = 503
    rate_limit_next: int = 0
    ambiguous_next: int = 0
    ambiguous_mode: AmbiguousMode = "close"
    # Only requests whose path starts with this prefix suffer the HTTP faults ("" = all).
    path_prefix: str = ""
    silent_streams: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def reset(self) -> None:
        self.latency_ms = 0.0
        self.http_5xx_next = 0
        self.http_5xx_fraction = 0.0
        self.http_5xx_status = 503
        self.rate_limit_next = 0
        self.ambiguous_next = 0
        self.ambiguous_mode = "close"
        self.path_prefix = ""
        self.silent_streams.clear()

    def update(self, **changes: Any) -> None:
        """Set fields by name (the control endpoint's JSON body maps onto this)."""
        for name, value in changes.items():
            if name == "silent_streams":
                self.silent_streams = set(value)
            elif name in ("rng",) or not hasattr(self, name):
                raise ValueError(f"unknown fault: {name}")
            else:
                setattr(self, name, type(getattr(self, name))(value))

    def applies(self, path: str) -> bool:
        return path.startswith(self.path_prefix)

    def take_5xx(self) -> bool:
        if self.http_5xx_next > 0:
            self.http_5xx_next -= 1
            return True
        return self.http_5xx_fraction > 0 and self.rng.random() < self.http_5xx_fraction

    def take_rate_limit(self) -> bool:
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return True
        return False

    def take_ambiguous(self) -> AmbiguousMode | None:
        if self.ambiguous_next > 0:
            self.ambiguous_next -= 1
            return self.ambiguous_mode
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "http_5xx_next": self.http_5xx_next,
            "http_5xx_fraction": self.http_5xx_fraction,
            "http_5xx_status": self.http_5xx_status,
            "rate_limit_next": self.rate_limit_next,
            "ambiguous_next": self.ambiguous_next,
            "ambiguous_mode": self.ambiguous_mode,
            "path_prefix": self.path_prefix,
            "silent_streams": sorted(self.silent_streams),
        }
