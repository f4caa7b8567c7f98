"""The entry test and the unwind rules (STRATEGIES.md "Sentinel").

Enter (long spot, short perp) when z ≥ 2 **and** the expected carry — the basis plus the
funding until the next settlement — beats the round-trip fees. A round trip is four
taker fills (each leg bought and sold), 0.1 % each by default: 0.4 %. Funding is signed
as the short perpetual sees it: a positive rate is paid by longs to shorts, so it adds
to the carry.

Unwind both legs when z ≤ 0 and the pair is in profit (the basis has converged and
there is money to take), or when funding has gone against the pair (the short paid) at
3 settlements in a row.

Every decision is a named outcome with its figures, so an event can say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

Z_ENTRY = 2.0
Z_EXIT = 0.0
TAKER_FEE_PCT = 0.1
LEGS = 2
FUNDING_AGAINST_N = 3


class EntryOutcome(StrEnum):
    ENTER = "ENTER"
    WARMING_UP = "WARMING_UP"  # fewer than a full window of samples
    Z_BELOW = "Z_BELOW"
    NO_FUNDING = "NO_FUNDING"  # funding data missing: no carry can be claimed
    CARRY_BELOW_FEES = "CARRY_BELOW_FEES"


@dataclass(frozen=True, slots=True)
class EntryDecision:
    outcome: EntryOutcome
    z: float | None
    carry: float | None
    fees: float

    @property
    def enter(self) -> bool:
        return self.outcome is EntryOutcome.ENTER


def round_trip_fees(taker_fee_pct: float = TAKER_FEE_PCT) -> float:
    """The fraction of the notional four taker fills cost (both legs in and out)."""
    if taker_fee_pct < 0:
        raise ValueError("a fee cannot be negative")
    return 2 * LEGS * taker_fee_pct / 100.0


def expected_carry(basis: float, funding_rate: float) -> float:
    """What the pair is expected to earn as a fraction of its notional: the basis it
    locks in (paid back as spot and perp converge) plus the next funding (short side)."""
    return basis + funding_rate


def entry_test(*, z: float | None, basis: float, funding_rate: float | None,
               z_entry: float = Z_ENTRY, taker_fee_pct: float = TAKER_FEE_PCT) -> EntryDecision:
    fees = round_trip_fees(taker_fee_pct)
    if z is None:
        return EntryDecision(EntryOutcome.WARMING_UP, None, None, fees)
    if z < z_entry:
        return EntryDecision(EntryOutcome.Z_BELOW, z, None, fees)
    if funding_rate is None:
        return EntryDecision(EntryOutcome.NO_FUNDING, z, None, fees)
    carry = expected_carry(basis, funding_rate)
    if carry <= fees:
        return EntryDecision(EntryOutcome.CARRY_BELOW_FEES, z, carry, fees)
    return EntryDecision(EntryOutcome.ENTER, z, carry, fees)


def pair_pnl(*, qty_spot: Decimal, spot_entry: Decimal, spot_now: Decimal,
             qty_perp: Decimal, perp_entry: Decimal, perp_now: Decimal,
             funding: Decimal = Decimal(0), fees_paid: Decimal = Decimal(0),
             taker_fee_pct: float = TAKER_FEE_PCT) -> Decimal:
    """The pair's PnL if it were unwound at `spot_now` / `perp_now`: the long spot's and
    the short perp's price PnL, the funding booked, less the fees paid and the two exit
    fees still to pay. `qty_perp` is the short's size (a positive number)."""
    fee = Decimal(str(taker_fee_pct)) / 100
    spot = qty_spot * (spot_now - spot_entry)
    perp = qty_perp * (perp_entry - perp_now)
    exit_fees = fee * (qty_spot * spot_now + qty_perp * perp_now)
    return spot + perp + funding - fees_paid - exit_fees


class UnwindReason(StrEnum):
    CONVERGED = "CONVERGED"  # z ≤ 0 and in profit
    FUNDING_AGAINST = "FUNDING_AGAINST"  # the short paid funding N settlements running


class FundingStreak:
    """Settlements in a row at which the pair paid funding (a zero payment breaks it:
    it is not against the pair)."""

    def __init__(self, against: int = 0) -> None:
        self.against = against

    def record(self, payment: Decimal) -> int:
        """`payment` is what the pair received (negative: it paid)."""
        self.against = self.against + 1 if payment < 0 else 0
        return self.against


def unwind_reason(*, z: float | None, pnl: Decimal, funding_against: int,
                  z_exit: float = Z_EXIT,
                  funding_against_n: int = FUNDING_AGAINST_N) -> UnwindReason | None:
    """Why the pair should be unwound now, or None to hold. Funding comes first: it is
    a cost that keeps running whatever the basis does."""
    if funding_against >= funding_against_n:
        return UnwindReason.FUNDING_AGAINST
    if z is not None and z <= z_exit and pnl > 0:
        return UnwindReason.CONVERGED
    return None
