"""One open Sentinel pair as the strategy keeps it: its legs, the prices it was entered
at, the fees paid, and the funding booked to it settlement by settlement (pure: no
clock, no I/O).

Funding is booked from the perpetual's ticker (Bybit's `fundingRate`, the rate the next
settlement applies, and `nextFundingTime`): when a ticker's next settlement time moves
past the one the pair was waiting for, that settlement has happened at the rate the
ticker last announced for it, and the short received perp qty × price × rate (a
negative rate: it paid). The venue's own funding record is the account's; this is the
pair's share of it, as the unwind rule needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from titan.strategies.sentinel.carry import FundingStreak


@dataclass(slots=True)
class OpenPair:
    pair_id: str
    symbol: str
    spot_qty: Decimal  # coins held for the pair
    perp_qty: Decimal  # the short's size (positive)
    spot_entry: Decimal  # depth-weighted prices the entry was priced at
    perp_entry: Decimal
    basis: float  # the basis locked in at entry
    opened_ms: int
    fees_paid: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    settlements: int = 0
    streak: FundingStreak = field(default_factory=FundingStreak)
    next_funding_ms: int | None = None  # the settlement the pair is waiting for
    rate: Decimal | None = None  # the rate announced for it

    def on_schedule(self, rate: Decimal | None, next_ms: int | None,
                    price: Decimal) -> Decimal | None:
        """A ticker's funding schedule; what the pair received when the settlement it
        was waiting for has passed (None otherwise). The first schedule seen only sets
        the settlement to wait for: a pair entered after the ticker cannot claim it."""
        if next_ms is None:
            return None
        paid = None
        if (self.next_funding_ms is not None and next_ms > self.next_funding_ms
                and self.rate is not None):
            paid = self.perp_qty * price * self.rate  # a positive rate: longs pay shorts
            self.funding += paid
            self.settlements += 1
            self.streak.record(paid)
        if rate is not None or paid is not None:
            self.rate = rate
        self.next_funding_ms = next_ms
        return paid
