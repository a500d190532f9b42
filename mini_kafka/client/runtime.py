"""A client's background event loop, in its own thread, so the public API (Producer,
Consumer, Admin) can be called from ordinary blocking code, as with Kafka's clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading


class Runtime:
    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self.closed = False

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout_s: float | None = None):
        """Run a coroutine on the loop and wait for its result."""
        future = self.submit(coro)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call_soon(self, fn, *args) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self, *cleanups) -> None:
        """Run `cleanups` on the loop (sockets belong to it), cancel what is left, stop."""
        if self.closed:
            return
        self.closed = True

        async def drain():
            for cleanup in cleanups:
                cleanup()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(drain(), timeout_s=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
            self.loop.close()
