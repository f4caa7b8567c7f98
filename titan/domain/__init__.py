"""Value types shared by every part of Titan. No I/O here."""

from titan.domain.orders import (
    Fill,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    client_order_id_for,
)
from titan.domain.reasons import Denial, ReasonCode, Severity

__all__ = [
    "Denial",
    "Fill",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "ReasonCode",
    "Severity",
    "Side",
    "client_order_id_for",
]
