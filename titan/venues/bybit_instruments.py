"""The instruments `BybitVenue` knows (tick size, qty step, limits), loaded on demand.

One request per symbol for the few Titan streams; one listing of every linear instrument
when more are missing at once (a flatten of positions adopted from the venue must not wait
for one call each), shared by whoever needs it while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib

from loguru import logger

from titan.domain.orders import Position
from titan.venues.base import Instrument, VenueError
from titan.venues.bybit_rest import BybitRestCalls
from titan.venues.bybit_wire import parse_instrument


class BybitInstrumentCache(BybitRestCalls):
    """The instrument cache of `BybitVenue` (its base class). The venue sets up, besides
    what `BybitRestCalls` needs: `category`, `_instruments` (empty), `_all_instruments`
    (None)."""

    category: str
    _instruments: dict[str, Instrument]
    _all_instruments: asyncio.Task[None] | None

    async def _load_instruments(self, symbols: list[str]) -> None:
        async def one(sym: str) -> None:
            resp = await self._read("get_instruments_info", category=self.category, symbol=sym)
            rows = (resp.get("result") or {}).get("list") or []
            if not rows:
                raise VenueError(f"bybit: unknown symbol {sym}", code="UNKNOWN_SYMBOL")
            inst = parse_instrument(rows[0])
            if inst.tick_size <= 0 or inst.qty_step <= 0:
                raise VenueError(f"bybit: instrument {sym} has no tick/step", code="BAD_INSTRUMENT")
            self._instruments[inst.symbol] = inst

        await asyncio.gather(*(one(s) for s in symbols))

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol.upper())

    async def instruments(self) -> dict[str, Instrument]:
        if self._instruments:
            await self._load_instruments(list(self._instruments))
        return dict(self._instruments)

    async def _ensure_instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None and self._all_instruments is not None:
            # A load of every instrument is under way: use it; if it fails, ask for this one.
            with contextlib.suppress(VenueError):
                await self._await_all_instruments()
            inst = self._instruments.get(symbol)
        if inst is None:
            await self._load_instruments([symbol])
            inst = self._instruments.get(symbol)
        if inst is None:
            raise VenueError(f"bybit: unknown symbol {symbol}", code="UNKNOWN_SYMBOL")
        return inst

    async def ensure_instruments(self, symbols: list[str]) -> None:
        """Have the instruments of `symbols` loaded: nothing to do when they are, else one
        request for one symbol, or one listing of every linear instrument for more (a flatten
        of positions on symbols outside Titan's universe must not wait for one call each)."""
        missing = {s.upper() for s in symbols} - set(self._instruments)
        if not missing:
            return
        if len(missing) == 1 and self._all_instruments is None:
            await self._load_instruments(list(missing))
            return
        self._start_loading_all_instruments()
        await self._await_all_instruments()

    def _start_loading_all_instruments(self) -> None:
        """One listing of every instrument, shared by whoever needs it meanwhile."""
        if self._all_instruments is None and not self._closed:
            task = asyncio.get_running_loop().create_task(
                self._load_all_instruments(), name="bybit-instruments")
            self._all_instruments = task
            task.add_done_callback(self._all_instruments_done)

    def _all_instruments_done(self, task: asyncio.Task[None]) -> None:
        if self._all_instruments is task:
            self._all_instruments = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("bybit: loading the instrument list failed: {}", task.exception())

    async def _await_all_instruments(self) -> None:
        task = self._all_instruments
        if task is not None:
            await asyncio.shield(task)

    async def _load_all_instruments(self) -> None:
        rows = await self._read_pages("get_instruments_info", 1000, category=self.category)
        for row in rows:
            try:
                inst = parse_instrument(row)
            except Exception:  # one odd row must not cost the others
                continue
            if inst.tick_size > 0 and inst.qty_step > 0:
                self._instruments[inst.symbol] = inst

    def _learn_position_symbols(self, positions: list[Position]) -> None:
        """A position on a symbol whose instrument is not loaded (adopted from the venue):
        load the instruments now, in the background, so closing it needs no extra request."""
        if any(p.symbol not in self._instruments for p in positions):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to do
                self._start_loading_all_instruments()
