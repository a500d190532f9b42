"""Long polls on a broker's partitions: waiting until one of them changes.

A fetch (a consumer's or a follower's) and an acks=all produce wait here for an append,
a high watermark move or a leadership change, with a deadline. A follower's fetch is
also answered when the high watermark it would learn moved (hw_news).
"""

from __future__ import annotations

import asyncio

from mini_kafka.broker.partition import Partition


def hw_news(wanted: list[dict], results: list[dict]) -> bool:
    """Whether a follower's fetch would raise the high watermark it holds (as far as its
    log end lets it): that is worth an answer without records. Without it a follower
    parked at the log end learnt a moved HW only at its fetch's timeout."""
    for w, r in zip(wanted, results, strict=True):
        held = w.get("high_watermark")
        if isinstance(held, int) and "high_watermark" in r and \
                min(r["high_watermark"], int(w["fetch_offset"])) > held:
            return True
    return False


async def wait_any(parts: list[Partition], timeout_ms: int) -> None:
    """Until any of `parts` signals a change, or timeout_ms. One future shared by all of
    them: a task per partition per long poll cost more than serving the fetch."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    for part in parts:
        part.add_waiter(woken)
    timer = loop.call_later(timeout_ms / 1000, _wake, woken)
    try:
        await woken
    finally:
        timer.cancel()
        for part in parts:
            part.remove_waiter(woken)


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
