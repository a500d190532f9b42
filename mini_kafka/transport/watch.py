"""Knowing at once when a peer process dies: one idle connection per peer, watched.

A process that dies, SIGKILL included, has its TCP connections closed by the kernel, so
a connection to it drops within milliseconds; a process that is paused (SIGSTOP) or cut
off by fault rules keeps them open, and only its silence tells. So a dropped connection
is evidence of death that a session timeout need not wait for, and its absence proves
nothing: whoever watches still judges silence by its session.

One DEALER socket connects to every watched endpoint and sends nothing; its monitor
reports, per endpoint, a completed handshake (the peer is there) and a disconnect. Only a
disconnect after a handshake counts as a loss (a refused connect is no news: the peer
may not have started yet), and it is reported once; ZeroMQ then keeps reconnecting, so
a peer that comes back is watched again. The socket carries no requests, so nothing the
request client does (timeouts, recycled connections) can look like a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

log = logging.getLogger("mini_kafka.transport.watch")

# A returning peer is reconnected to within this; retries cost the watcher nothing (they
# are not among the monitored events).
RECONNECT_INTERVAL_MS = 100


class PeerWatch:
    def __init__(self, on_lost: Callable[[str], None]):
        """on_lost(endpoint) is called once each time a connection that was up drops."""
        self._on_lost = on_lost
        self._sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_INTERVAL_MS)
        monitor = self._sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        # Read without a task: the loop calls catch_up when the socket has news.
        self._monitor = zmq.Socket.shadow(monitor.underlying)
        self._monitor_owner = monitor
        self._fd = self._monitor.getsockopt(zmq.FD)
        self._loop = asyncio.get_running_loop()
        self._up: dict[str, bool] = {}
        self._unusable: set[str] = set()
        self._loop.add_reader(self._fd, self.catch_up)
        # ZeroMQ's descriptor is edge-triggered: it signals news only once what is
        # already pending has been read.
        self.catch_up()

    def watch(self, endpoint: str) -> None:
        """Start watching; an endpoint ZeroMQ cannot connect to is logged and left out
        (it comes from a peer's registration, and must not crash the watcher)."""
        if endpoint in self._up or endpoint in self._unusable:
            return
        try:
            self._sock.connect(endpoint)
        except zmq.ZMQError as e:
            log.warning("cannot watch %r: %s", endpoint, e)
            self._unusable.add(endpoint)
            return
        self._up[endpoint] = False

    def unwatch(self, endpoint: str) -> None:
        """Stop watching (an endpoint nobody serves any more); its drop is no news."""
        self._unusable.discard(endpoint)
        if self._up.pop(endpoint, None) is not None:
            self._sock.disconnect(endpoint)

    def watching(self) -> set[str]:
        """Every endpoint given to watch() and not unwatched, usable or not."""
        return set(self._up) | self._unusable

    def is_up(self, endpoint: str) -> bool:
        return self._up.get(endpoint, False)

    def catch_up(self) -> None:
        """Handle every event reported so far, now. The loop calls it when there is
        news; a caller about to bind what a connection means (a new incarnation
        registered) calls it first, so that a drop that happened earlier is seen as
        the old one's."""
        while True:
            try:
                frames = self._monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle(parse_monitor_message(frames))

    def _handle(self, event: dict) -> None:
        endpoint = event["endpoint"].decode()
        if endpoint not in self._up:
            return
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._up[endpoint] = True
        elif event["event"] == zmq.EVENT_DISCONNECTED and self._up[endpoint]:
            self._up[endpoint] = False
            try:
                self._on_lost(endpoint)
            except Exception:  # the watcher must outlive a bad callback
                log.exception("handling the loss of %s failed", endpoint)

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        self._sock.disable_monitor()
        self._monitor_owner.close(0)
        self._sock.close(0)
