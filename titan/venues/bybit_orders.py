"""Bybit v5's latency-critical order calls, sent from the event loop (SPEC §1, §13).

pybit is synchronous: from a thread, one `place_order` cost ~1.3 ms before its bytes left
(request preparation, the thread hand-off and back), more than the whole tick-to-order
budget. Place, cancel, cancel-all and create-batch therefore go out through one aiohttp
session kept alive to the venue, signed exactly as pybit signs them (v5 HMAC-SHA256 over
timestamp + key + recv window + the JSON body, the same body bytes pybit would send).
Every other call (reads, leverage, instruments) and the streams stay on pybit.

The sender speaks the same exception language as pybit (`InvalidRequestError` for a
non-zero `retCode`, `FailedRequestError` for an HTTP status other than 200 or a body that
is not JSON), so `BybitVenue._rest` classifies both paths with one set of rules. What
pybit would surface as a `requests` exception is `OrderSendFailed` here, saying whether the
request can have reached the venue: only a refused connection is "nothing was sent".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pybit.exceptions import FailedRequestError, InvalidRequestError

# method name as BybitVenue._rest knows it (pybit's) → the v5 path it posts to
ORDER_PATHS = {
    "place_order": "/v5/order/create",
    "place_batch_order": "/v5/order/create-batch",
    "cancel_order": "/v5/order/cancel",
    "cancel_all_orders": "/v5/order/cancel-all",
}

# pybit sends these as strings whatever type they are given (HTTPManager.prepare_payload);
# the same body bytes keep the two paths' requests identical on the wire.
_STRING_PARAMS = ("qty", "price", "triggerPrice", "takeProfit", "stopLoss")
_INTEGER_PARAMS = ("positionIdx",)
# Stay under the server's keep-alive (aiohttp's server: 75 s), so a send is not made on a
# connection the venue is about to close — that would be an answer lost for nothing.
_KEEPALIVE_S = 30.0


class OrderSendFailed(Exception):
    """The request got no answer. `reached` is False only when the connection itself was
    refused (nothing was sent); otherwise the venue may have acted on it."""

    def __init__(self, message: str, *, reached: bool) -> None:
        super().__init__(message)
        self.reached = reached


def order_body(params: dict[str, Any]) -> str:
    """The JSON body pybit would send for these parameters (its `_clean_query` and
    `prepare_payload` rules), byte for byte."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, float) and value == int(value):
            value = int(value)
        if key in _STRING_PARAMS and type(value) is not str:
            value = str(value)
        elif key in _INTEGER_PARAMS and type(value) is not int:
            value = int(value)
        clean[key] = value
    return json.dumps(clean)


def sign(secret: str, api_key: str, timestamp_ms: int, recv_window: int, body: str) -> str:
    """Bybit v5 HMAC signature (X-BAPI-SIGN, sign type 2)."""
    payload = f"{timestamp_ms}{api_key}{recv_window}{body}"
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BybitOrderSender:
    """One kept-alive aiohttp session for the order calls of one Bybit account."""

    def __init__(self, base_url: str, api_key: str, api_secret: str, *,
                 recv_window: int = 5000, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._secret = api_secret
        self._recv_window = recv_window
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:  # never show the secret
        return f"BybitOrderSender(base_url={self._base!r})"

    def headers(self, body: str, timestamp_ms: int | None = None) -> dict[str, str]:
        # Wall time on purpose: the venue checks the stamp against its own clock; Titan's
        # injected clock (which tests and backtests move) has nothing to say here.
        ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
        return {
            "Content-Type": "application/json",
            "X-BAPI-API-KEY": self._key,
            "X-BAPI-SIGN": sign(self._secret, self._key, ts, self._recv_window, body),
            "X-BAPI-SIGN-TYPE": "2",
            "X-BAPI-TIMESTAMP": str(ts),
            "X-BAPI-RECV-WINDOW": str(self._recv_window),
        }

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(keepalive_timeout=_KEEPALIVE_S, limit=0,
                                             enable_cleanup_closed=True)
            # trust_env off: the proxies pybit's session pinned at start are the operator's
            # business for reads; a loopback or venue order call goes direct, like pybit's
            # requests to the same host (Titan's settings never route orders via a proxy).
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  trust_env=False)
        return self._session

    async def post(self, method: str, params: dict[str, Any]) -> Any:
        """POST one order call. The send runs in its own task, shielded: cancelling the
        caller does not tear a request off the wire half-sent (as with pybit's thread, the
        outcome of a cancelled submit is simply unknown to that caller)."""
        path = ORDER_PATHS[method]
        body = order_body(params)
        task = asyncio.get_running_loop().create_task(self._send(method, path, body),
                                                      name=f"bybit-{method}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _send(self, method: str, path: str, body: str) -> Any:
        """The decoded answer (an object on success; the caller refuses anything else)."""
        session = self._open_session()
        what = f"POST {path}: {body}"
        try:
            async with session.post(self._base + path, data=body.encode(),
                                    headers=self.headers(body)) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except aiohttp.ClientConnectorError as exc:  # TCP connect refused: nothing sent
            raise OrderSendFailed(f"cannot connect: {exc}", reached=False) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OrderSendFailed(f"{type(exc).__name__}: {exc}", reached=True) from None
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        if status != 200:
            raise FailedRequestError(request=what, message="HTTP status code is not 200.",
                                     status_code=status, time=stamp, resp_headers=headers)
        try:
            answer = json.loads(raw)
        except ValueError:
            # pybit's own code for an undecodable answer; the request did reach the venue.
            raise FailedRequestError(request=what, message="Conflict. Could not decode JSON.",
                                     status_code=409, time=stamp, resp_headers=None) from None
        if not isinstance(answer, dict):
            return answer
        code = answer.get("retCode", answer.get("ret_code"))
        if code:
            raise InvalidRequestError(request=what,
                                      message=answer.get("retMsg", answer.get("ret_msg", "")),
                                      status_code=code, time=stamp, resp_headers=headers)
        return answer

    async def close(self, wait_s: float = 5.0) -> None:
        """Let calls in flight finish (bounded), then close the session."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=wait_s)
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
