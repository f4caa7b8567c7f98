"""What the gate needs to know about the market and the venue, kept current by the streams.

Updated on the market-data path, so every method is O(1) and allocation-light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from titan.clock import Clock
from titan.venues.base import StreamState

# The execution venue counts as connected only when both of its streams are up: without the
# private stream fills go unseen, without the public one prices go stale.
REQUIRED_STREAMS = ("private", "public")


@dataclass(slots=True)
class MarketState:
    clock: Clock
    prices: dict[str, Decimal] = field(default_factory=dict)
    price_seen_at: dict[str, float] = field(default_factory=dict)  # monotonic seconds
    venue_streams: dict[str, StreamState] = field(default_factory=dict)
    feed_streams: dict[str, StreamState] = field(default_factory=dict)

    def on_price(self, symbol: str, price: Decimal) -> None:
        self.prices[symbol] = price
        self.price_seen_at[symbol] = self.clock.monotonic()

    def age_ms(self, symbol: str) -> float | None:
        seen = self.price_seen_at.get(symbol)
        return None if seen is None else (self.clock.monotonic() - seen) * 1000.0

    def price(self, symbol: str) -> Decimal | None:
        return self.prices.get(symbol)

    @property
    def venue_connected(self) -> bool:
        return all(self.venue_streams.get(s) is StreamState.CONNECTED for s in REQUIRED_STREAMS)

    @property
    def feed_connected(self) -> bool:
        return bool(self.feed_streams) and all(
            s is StreamState.CONNECTED for s in self.feed_streams.values())
