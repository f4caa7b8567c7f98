"""The tick-to-order bench's feed baseline (issue 22): a bare `websockets` client, in a
process of its own, on the simulator's Binance combined aggTrade stream that Titan reads in
the same run. Per message: `json.loads`, then the CLOCK_MONOTONIC ns at that instant (the
system-wide clock the simulator stamps its sends with), kept by (symbol, trade id).
Nothing of Titan; no compression, as Titan's feed opens the stream.

    python bench/_bare_feed.py WS_URL
prints "ready" once subscribed; then each line on stdin is a JSON list of [symbol, id]
pairs, answered by one line: a JSON list of the ns each was parsed at (null: not seen).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import websockets


async def main(url: str) -> None:
    parsed: dict[tuple[str, int], int] = {}
    loop = asyncio.get_running_loop()

    async with websockets.connect(url, compression=None, max_queue=4096,
                                  ping_interval=None, max_size=None) as ws:
        print("ready", flush=True)

        async def read() -> None:
            now = time.monotonic_ns
            async for raw in ws:
                msg = json.loads(raw)
                t = now()
                data = msg.get("data", msg)
                parsed[(data["s"], int(data["a"]))] = t

        reader = asyncio.create_task(read())
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            keys = json.loads(line)
            print(json.dumps([parsed.get((s, int(i))) for s, i in keys]), flush=True)
        reader.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
