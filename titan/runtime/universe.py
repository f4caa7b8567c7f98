"""Titan's symbol universe: what the execution venue lists, with 24 h turnover, and which
symbols Titan streams.

* **Listed** (`listing()`, read at start and every `REFRESH_S`): every instrument the
  venue trades now. The whitelist is validated against it: a symbol the venue does not
  list cannot be added. Until the first listing arrives (venue unreachable at start),
  the streamed symbols stand in.
* **Streamed**: in the paper profile, the simulator's symbols (all of them, as before);
  against a real venue, the whitelist (a real venue lists hundreds of symbols; Titan
  streams what it may trade). A whitelist change streams the added symbols at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from loguru import logger

from titan.venues.base import ListedInstrument, TradeFeed, Venue, VenueError

REFRESH_S = 3600.0


class Universe:
    def __init__(self, streamed: Sequence[str], *, follow_whitelist: bool) -> None:
        self.streamed: list[str] = list(dict.fromkeys(s.upper() for s in streamed))
        self.listed: list[ListedInstrument] = []
        self._follow = follow_whitelist
        self.venue: Venue | None = None
        self.feed: TradeFeed | None = None

    def known(self) -> set[str]:
        """Symbols the whitelist may hold: the venue's listing (the streamed ones until
        the venue has answered)."""
        return {i.symbol for i in self.listed} or set(self.streamed)

    async def refresh(self) -> None:
        if self.venue is None:
            return
        try:
            self.listed = await self.venue.listing()
        except VenueError as exc:
            logger.warning("UNIVERSE_REFRESH_FAILED {}: keeping {} listed symbols", exc,
                           len(self.listed))
            return
        logger.info("UNIVERSE {} instruments listed by {}; streaming {}", len(self.listed),
                    self.venue.name, ",".join(self.streamed))

    async def follow(self, whitelist: Sequence[str]) -> None:
        """A new whitelist: stream the symbols it added (none is ever dropped while Titan
        runs: a position may still be open on it)."""
        if not self._follow:
            return
        added = [s for s in whitelist if s not in self.streamed]
        if not added or self.venue is None or self.feed is None:
            return
        self.streamed += added
        try:
            await self.venue.set_symbols(self.streamed)
            await self.feed.set_symbols(self.streamed)
        except (VenueError, ValueError) as exc:
            logger.warning("UNIVERSE_STREAM_FAILED adding {}: {}", added, exc)
            return
        logger.info("UNIVERSE streaming {} (added {})", ",".join(self.streamed), ",".join(added))

    def as_dict(self, whitelist: Sequence[str]) -> dict[str, Any]:
        wl = set(whitelist)
        return {"venue": self.venue.name if self.venue is not None else None,
                "streamed": list(self.streamed),
                "instruments": [{"symbol": i.symbol, "turnover24h": str(i.turnover_24h),
                                 "whitelisted": i.symbol in wl,
                                 "streamed": i.symbol in self.streamed}
                                for i in self.listed],
                "totalTurnover24h": str(sum((i.turnover_24h for i in self.listed), Decimal(0)))}
