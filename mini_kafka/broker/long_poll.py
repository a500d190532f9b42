"""Long polls on a broker's partitions: waiting until one of them changes.

A fetch (a consumer's or a follower's) and an acks=all produce wait here for an append,
a high watermark move or a leadership change, with a deadline. A follower's fetch is
also answered when the high watermark it would learn moved (hw_news).
"""

from __future__ import annotations

import asyncio

from mini_kafka.broker.partition import Partition


def _raises_hw(w: dict, r: dict) -> bool:
    """Whether answer `r` raises the high watermark the follower that sent `w` holds,
    as far as its log end lets it (False when it names none)."""
    held = w.get("high_watermark")
    return isinstance(held, int) and "high_watermark" in r and \
        min(r["high_watermark"], int(w["fetch_offset"])) > held


def hw_news(wanted: list[dict], results: list[dict]) -> bool:
    """Whether a follower's fetch would raise the high watermark it holds: that is worth
    an answer without records. Without it a follower parked at the log end learnt a
    moved HW only at its fetch's timeout."""
    return any(_raises_hw(w, r) for w, r in zip(wanted, results, strict=True))


def news_only(wanted: list[dict], results: list[dict]) -> list[dict]:
    """A follower's answer cut to the partitions it learns something from: records, an
    error, a divergence, or a higher high watermark (a follower that names none gets
    every partition). The rest it would apply as nothing: a follower of 40 idle
    partitions and 2 busy ones was sent, and decoded and walked, all 42 on every round
    of an acks=all stream. The follower leaves an unnamed partition as it is
    (broker/fetcher.py)."""
    return [r for w, r in zip(wanted, results, strict=True)
            if not isinstance(w.get("high_watermark"), int) or "records" in r
            or "diverging_epoch" in r or r.get("error", "NONE") != "NONE"
            or _raises_hw(w, r)]


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
