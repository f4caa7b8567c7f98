"""`titan notify test`: send one test message to every configured URL and say which worked."""

from __future__ import annotations

import asyncio
import socket

from titan import __version__
from titan.exits import EXIT_CONFIG, fail, settings_or_exit

EXIT_SOME_FAILED = 1


async def _send_all(urls: list[str]) -> list[tuple[str, bool]]:
    from titan.notify.notifier import build_target, deliver, private_url

    title = "[Titan] Test notification"
    body = (f"What: a test from `titan notify test` on {socket.gethostname()} (Titan {__version__}).\n"
            "Do: nothing; this URL will receive Titan's alerts.")
    targets = [build_target(u) for u in urls]
    results = await asyncio.gather(*(deliver(t, title, body) for t in targets))
    return [(private_url(t), ok) for t, ok in zip(targets, results, strict=True)]


def notify_test() -> int:
    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    from titan.notify.notifier import split_urls

    urls = split_urls(settings.notify_urls)
    if not urls:
        return fail("TITAN_NOTIFY_URLS is not set: nothing to test", EXIT_CONFIG)
    results = asyncio.run(_send_all(urls))
    for url, ok in results:
        print(f"{'OK    ' if ok else 'FAILED'} {url}", flush=True)
    failed = sum(1 for _, ok in results if not ok)
    print(f"{len(results) - failed} of {len(results)} URL(s) worked", flush=True)
    return EXIT_SOME_FAILED if failed else 0
