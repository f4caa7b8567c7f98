"""The spot leg wired into a running Titan (SPEC §16): when the venue has a spot side
(Bybit's unified account, the paper simulator), its ledger (`SpotBook`), its sender
(`SpotExecutor`), its step in every reconciliation (`SpotReconcile`), its private-stream
rows, and its half of the emergency actions (`SpotFlatten` in the execution engine:
flatten, the kill switch and HARD_HALT sell Titan's coins; cancel-all covers spot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from titan.execution.pair import PairEntry
from titan.execution.spot import SpotExecutor
from titan.execution.spot_flatten import SpotFlatten
from titan.state.spot_book import SpotBook
from titan.state.spot_reconcile import SpotReconcile
from titan.venues.base import PrivateUpdate, SpotVenue, Venue

if TYPE_CHECKING:
    from titan.core import Titan


@dataclass(frozen=True, slots=True)
class SpotLeg:
    book: SpotBook
    executor: SpotExecutor
    reconcile: SpotReconcile
    flatten: SpotFlatten
    pairs: PairEntry  # both-or-neither pair entries (Sentinel)


async def wire_spot_leg(titan: Titan, venue: Venue, epoch_ms: int) -> SpotLeg | None:
    """Everything the spot leg needs, or None when the venue trades no spot."""
    spot: SpotVenue | None = getattr(venue, "spot", None)
    if spot is None:
        return None
    db, ledger, clock, spawn = titan.db, titan.ledger, titan.clock, titan.spawn
    book = SpotBook(db, clock)
    await book.load()
    executor = SpotExecutor(spot, book)
    leg = SpotLeg(book, executor, SpotReconcile(spot, book, ledger, epoch_ms=epoch_ms),
                  SpotFlatten(spot, book, executor, clock),
                  PairEntry(spot=spot, spot_exec=executor, book=book, execution=titan.execution,
                            bus=titan.bus, clock=clock))
    titan.reconciler.spot = leg.reconcile
    titan.execution.spot_leg = leg.flatten
    # Sentinel reads both books by depth through the spot side (its basis).
    services = titan.strategy_services.setdefault("sentinel", {})
    services.setdefault("books", spot)
    services.setdefault("pairs", leg.pairs)  # its pair entries and unwinds

    def on_private(update: PrivateUpdate) -> None:
        if update.spot_orders or update.spot_fills:
            spawn(executor.on_private(update))

    venue.on_private(on_private)
    return leg
