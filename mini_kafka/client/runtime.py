"""A client's background event loop, in its own thread, so the public API (Producer,
Consumer, Admin) can be called from ordinary blocking code, as with Kafka's clients.

Clients that are never closed are closed at interpreter exit, within a bounded time (as
kafka-python does): a producer delivers what it still buffers, a consumer leaves its
group. The registry holds clients weakly, so one that is dropped can still be collected.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
import time
import weakref

log = logging.getLogger("mini_kafka.client")


class Runtime:
    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.closed = False
        self.keepalive = None  # the client, while it has work the loop must finish
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()  # here, not by close(): only the loop's own thread knows it stopped
            _winding_down.pop(self, None)

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout_s: float | None = None):
        """Run a coroutine on the loop and wait for its result."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("a blocking client call from the client's own thread (a send "
                               "or commit callback?): it would wait on itself forever")
        future = self.submit(coro)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call_soon(self, fn, *args) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self, *cleanups, timeout_s: float = 5.0) -> None:
        """Run `cleanups` on the loop (sockets belong to it), cancel what is left, stop;
        within about timeout_s. From the loop's own thread (a finalizer) it only starts."""
        if self.closed:
            return
        self.closed = True
        if self.in_loop_thread():
            self.loop.create_task(self._drain(cleanups)).add_done_callback(
                lambda _: self.loop.stop())
            return
        try:
            self.submit(self._drain(cleanups)).result(max(timeout_s, 0.1))
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("%s: its loop did not wind down within %.1f s; leaving it to exit",
                        self._thread.name, timeout_s)
        finally:
            try:
                self.loop.call_soon_threadsafe(self.loop.stop)
            except RuntimeError:
                pass  # already closed
            self._thread.join(timeout=max(timeout_s, 0.1))

    def close_soon(self, *cleanups, farewell=None, farewell_timeout_s: float = 5.0) -> None:
        """close() without waiting, from any thread: for finalizers of dropped clients.
        `farewell`, a coroutine function (leaving a group), is awaited first, bounded."""
        if self.closed:
            return
        self.closed = True
        # An interpreter exiting now waits for this (bounded), or the farewell is lost.
        _winding_down[self] = time.monotonic() + farewell_timeout_s + 1.0

        async def part() -> None:
            if farewell is not None:
                try:
                    await asyncio.wait_for(farewell(), farewell_timeout_s)
                except Exception as e:
                    log.info("%s: %s before closing", self._thread.name, e)
            await self._drain(cleanups)

        def start() -> None:
            self.loop.create_task(part()).add_done_callback(lambda _: self.loop.stop())
        try:
            self.loop.call_soon_threadsafe(start)
        except RuntimeError:
            pass  # the loop is already closed

    @staticmethod
    async def _drain(cleanups) -> None:
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception:  # one failed cleanup must not leave the others undone
                log.exception("client cleanup failed")
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- closing at interpreter exit ------------------------------------------------------------

_open_clients: weakref.WeakSet = weakref.WeakSet()
_winding_down: dict[Runtime, float] = {}  # closed by a finalizer, not stopped yet: deadline


def close_at_exit(client) -> None:
    """Close `client` at interpreter exit unless it is closed (or collected) first. It
    provides _begin_exit() (start winding down, no waiting) and _close_at_exit()."""
    _open_clients.add(client)


def closed(client) -> None:
    _open_clients.discard(client)


@atexit.register
def _close_open_clients() -> None:
    # atexit runs after non-daemon threads are joined but while the clients' daemon loop
    # threads still run. All start at once, so their waits overlap.
    clients = list(_open_clients)
    for client in clients:
        try:
            client._begin_exit()
        except Exception:
            log.exception("closing %r at exit", client)
    for client in clients:
        try:
            client._close_at_exit()
        except Exception:
            log.exception("closing %r at exit", client)
    for rt, deadline in list(_winding_down.items()):
        rt._thread.join(max(0.0, deadline - time.monotonic()))
