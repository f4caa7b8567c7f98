"""The one in-process event bus.

The trading path publishes; the journal, logger, metrics, alert store and console
WebSocket subscribe. Handlers run synchronously inside `publish` and must be cheap
(append to a queue, bump a counter): anything slow belongs in the subscriber's own
task fed by `subscribe_queue`. A failing handler is logged and never breaks the
publisher: trading must not stop because the console is broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from loguru import logger

from titan.events import Event

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._all: list[Handler] = []

    def subscribe(self, handler: Handler, event_type: type[Event] | None = None) -> Callable[[], None]:
        """Call `handler` for every event (or only those of `event_type`, subclasses included).

        Returns a function that unsubscribes.
        """
        target = self._all if event_type is None else self._handlers.setdefault(event_type, [])
        target.append(handler)

        def unsubscribe() -> None:
            if handler in target:
                target.remove(handler)

        return unsubscribe

    def subscribe_queue(self, maxsize: int = 10_000) -> tuple[asyncio.Queue[Event], Callable[[], None]]:
        """A queue that receives every event; when it is full the oldest event is dropped.

        For consumers that do I/O (the console WebSocket, the journal writer).
        """
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

        return queue, self.subscribe(put)

    def publish(self, event: Event) -> None:
        for handler in tuple(self._all):
            self._call(handler, event)
        for etype in type(event).__mro__:
            for handler in tuple(self._handlers.get(etype, ())):
                self._call(handler, event)

    @staticmethod
    def _call(handler: Handler, event: Event) -> None:
        try:
            handler(event)
        except Exception:
            logger.opt(exception=True).error("EVENT_HANDLER_FAILED handler={} event={}", handler, event.name)
