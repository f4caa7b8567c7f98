"""Wire timestamps for latency benchmarks: when each trade left and each order arrived.

Monotonic nanoseconds, bounded buffers (old entries fall off) so an hour-long run does
not grow without limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TradeSent:
    stream: str
    symbol: str
    trade_id: int
    ns: int


@dataclass(frozen=True, slots=True)
class OrderArrived:
    venue: str
    key: str
    client_id: str
    ns: int


class Recorder:
    def __init__(self, maxlen: int = 50_000) -> None:
        self.trades: deque[TradeSent] = deque(maxlen=maxlen)
        self.orders: deque[OrderArrived] = deque(maxlen=maxlen)

    def trade_sent(self, stream: str, symbol: str, trade_id: int, ns: int) -> None:
        self.trades.append(TradeSent(stream, symbol, trade_id, ns))

    def order_arrived(self, venue: str, key: str, client_id: str, ns: int) -> None:
        self.orders.append(OrderArrived(venue, key, client_id, ns))

    def clear(self) -> None:
        self.trades.clear()
        self.orders.clear()
