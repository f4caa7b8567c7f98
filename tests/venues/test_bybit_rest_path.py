"""The adapter's REST path through pybit: per-call work that is done once instead."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.venues.bybit import BybitVenue

from .simkit import KEY, SECRET, start_sim


def test_proxy_environment_is_resolved_once_at_construction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    v = BybitVenue(KEY, SECRET, base_url="https://api.bybit.com", clock=SystemClock(),
                   streams=False)
    session = v._http.client
    # The proxy the environment names still applies, pinned on the session…
    assert session.proxies.get("https") == "http://proxy.invalid:3128"
    # …and requests no longer re-reads the environment (nor ~/.netrc) per call.
    assert session.trust_env is False


def test_no_proxy_in_the_environment_pins_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    v = BybitVenue(KEY, SECRET, base_url="https://api.bybit.com", clock=SystemClock(),
                   streams=False)
    assert v._http.client.proxies == {}


async def test_an_order_does_not_walk_the_environment_per_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = await start_sim()
    v = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=["BTCUSDT"],
                   clock=SystemClock(), streams=False)
    try:
        await v.start()
        calls: list[str] = []
        real_proxies = requests.utils.get_environ_proxies
        real_netrc = requests.sessions.get_netrc_auth

        def environ_proxies(*a: Any, **kw: Any) -> Any:
            calls.append("proxies")
            return real_proxies(*a, **kw)

        def netrc(*a: Any, **kw: Any) -> Any:
            calls.append("netrc")
            return real_netrc(*a, **kw)

        monkeypatch.setattr(requests.utils, "get_environ_proxies", environ_proxies)
        monkeypatch.setattr(requests.sessions, "get_netrc_auth", netrc)
        vo = await v.place_order(OrderIntent(
            intent_id="rest-path-1", symbol="BTCUSDT", side=Side.BUY, qty=Decimal("0.001"),
            order_type=OrderType.MARKET, leverage=Decimal(1)))
        assert vo.client_order_id
        assert calls == []
    finally:
        await v.close()
        await sim.stop()
