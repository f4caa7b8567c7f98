"""Builds the execution venue and the signal feed from the process settings.

- `paper`: both point at the in-process simulator. The caller starts it and passes its
  base URL in as `settings.bybit_url` (and `binance_url`; the Bybit URL is used for both
  when only one is given). Keys default to `PAPER_API_KEY` / `PAPER_API_SECRET`, which the
  caller registers as the simulator's account.
- `bybit`: the real Bybit (testnet with `bybit_testnet`), or `bybit_url` when set.
- `binance`: Binance USD-M futures, or `binance_url` when set.

The trade feed is Binance spot aggTrade in every profile (public, no keys).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr

from titan.clock import Clock
from titan.settings import Settings, VenueName
from titan.venues.base import TradeFeed, Venue
from titan.venues.binance_feed import BinanceTradeFeed
from titan.venues.binance_futures import BinanceFuturesVenue
from titan.venues.bybit import BybitVenue

PAPER_API_KEY = "titan-paper"
PAPER_API_SECRET = "titan-paper-secret"


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_venue(
    settings: Settings,
    symbols: Sequence[str],
    clock: Clock,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> Venue:
    """The execution venue for `settings.venue` (not started: call `await venue.start()`)."""
    if settings.venue is VenueName.PAPER:
        url = settings.bybit_url or settings.binance_url
        if url is None:
            raise ValueError("paper venue needs the simulator's URL in settings.bybit_url")
        return BybitVenue(
            api_key or _secret(settings.bybit_api_key) or PAPER_API_KEY,
            api_secret or _secret(settings.bybit_api_secret) or PAPER_API_SECRET,
            base_url=url,
            testnet=False,
            symbols=list(symbols),
            clock=clock,
        )
    if settings.venue is VenueName.BYBIT:
        key = api_key or _secret(settings.bybit_api_key)
        secret = api_secret or _secret(settings.bybit_api_secret)
        if not key or not secret:
            raise ValueError(
                "TITAN_VENUE=bybit needs TITAN_BYBIT_API_KEY and TITAN_BYBIT_API_SECRET"
            )
        return BybitVenue(
            key,
            secret,
            base_url=settings.bybit_url,
            testnet=settings.bybit_testnet,
            symbols=list(symbols),
            clock=clock,
        )
    if settings.venue is VenueName.BINANCE:
        key = api_key or _secret(settings.binance_api_key)
        secret = api_secret or _secret(settings.binance_api_secret)
        if not key or not secret:
            raise ValueError(
                "TITAN_VENUE=binance needs TITAN_BINANCE_API_KEY and TITAN_BINANCE_API_SECRET"
            )
        return BinanceFuturesVenue(
            key, secret, base_url=settings.binance_url, symbols=list(symbols), clock=clock
        )
    raise ValueError(f"unknown venue {settings.venue!r}")


def build_trade_feed(settings: Settings, clock: Clock) -> TradeFeed:
    """The Binance spot aggTrade feed (the simulator's in paper mode). Start it with the symbols."""
    url = settings.binance_url
    if settings.venue is VenueName.PAPER:
        url = url or settings.bybit_url
        if url is None:
            raise ValueError("paper trade feed needs the simulator's URL in settings.binance_url")
    return BinanceTradeFeed(clock=clock, base_url=url)
