"""The console's web server (aiohttp): the page, its JSON endpoints, the live stream and
the chaos controls, over a ClusterReader read once per refresh interval.

    GET  /                     the page (static/index.html)
    GET  /api/state            every view at once: what /api/events streams
    GET  /api/cluster          nodes, controller, Raft term and commit index, fenced brokers
    GET  /api/topics           partitions: leader, replicas, ISR, epoch, offsets, size
    GET  /api/groups           consumer groups: state, members, lag and its history
    GET  /api/timeline         events and the produce/fetch rates over the history window
    GET  /api/faults           the faults in force
    GET  /api/events           server-sent events: a `state` event per refresh
    GET  /api/messages         ?topic=T&partition=P[&offset=O|&timestamp_ms=MS][&limit=N]
    POST /api/chaos/{op}       kill|pause|resume|restart|cut-off|heal, body {"node": "broker-2"}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from importlib import resources
from typing import Any

from aiohttp import web

from mini_kafka.client import Admin, Consumer
from mini_kafka.config import ConsoleSection
from mini_kafka.console import ops, security
from mini_kafka.console.browse import POLL_MS, BrowseError, BrowseRequest, browse
from mini_kafka.console.collect import ClusterReader
from mini_kafka.console.snapshot import Snapshot
from mini_kafka.console.state import ConsoleState
from mini_kafka.errors import KafkaError

log = logging.getLogger("mini_kafka.console")

STATIC = resources.files("mini_kafka.console") / "static"
KEEPALIVE_S = 15
REQUEST_BYTES_MAX = 64 * 1024  # the largest body a chaos request needs is tiny
BROWSE_DEADLINE_S = 10


class ConsoleServer:
    def __init__(self, reader: ClusterReader, settings: ConsoleSection, token: str):
        self.reader = reader
        self.settings = settings
        self.token = token
        self.state = ConsoleState(
            history_ms=settings.history_ms, events_max=settings.timeline_events_max,
            min_insync_default=reader.config.topics.min_insync_replicas)
        self.allowed: set[str] | None = None  # set once the port is known
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._op_lock = asyncio.Lock()
        self._stopping = False
        self._encoded: tuple[int, bytes] = (-1, b"")
        self._refresher: asyncio.Task | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=REQUEST_BYTES_MAX)
        views = {"state": self.state.everything, "cluster": self.state.cluster,
                 "topics": self.state.topics, "groups": self.state.groups,
                 "timeline": self.state.timeline, "faults": self.state.faults}
        app.router.add_get("/", self._index)
        for name, view in views.items():
            app.router.add_get(f"/api/{name}", self._json_view(view))
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/messages", self._messages)
        app.router.add_post("/api/chaos/{op}", self._chaos)
        app.router.add_static("/static/", str(STATIC), append_version=False)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        return app

    def bound_to(self, port: int) -> None:
        self.allowed = security.allowed_hosts(self.settings.host, port)

    # -- refreshing -----------------------------------------------------------------------

    async def _start(self, app) -> None:
        self._refresher = asyncio.ensure_future(self._refresh_forever())

    async def _shutdown(self, app) -> None:
        self._stopping = True
        self._changed.set()
        if self._refresher is not None:
            self._refresher.cancel()
        await asyncio.to_thread(self.reader.close_admin)

    async def _refresh_forever(self) -> None:
        interval_s = self.settings.refresh_interval_ms / 1000
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                snap = await asyncio.to_thread(self.reader.read)
            except Exception as e:  # a reading that failed oddly must not end the console
                log.exception("reading the cluster failed")
                snap = Snapshot(int(time.time() * 1000), False,
                                errors={"console": f"{type(e).__name__}: {e}"})
            self.state.update(snap)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(),
                                       max(0.05, interval_s - (loop.time() - began)))
            except TimeoutError:
                pass

    def _state_bytes(self) -> bytes:
        version, data = self._encoded
        if version != self.state.version:
            data = json.dumps(self.state.everything(), separators=(",", ":")).encode()
            self._encoded = (self.state.version, data)
        return data

    # -- requests -------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        refusal = security.host_refusal(request.headers.get("Host"), self.allowed)
        if refusal:
            return _error(403, refusal)
        if request.method not in ("GET", "HEAD"):
            refusal = security.write_refusal(request.headers, self.token)
            if refusal:
                return _error(403, refusal)
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return _error(e.status, e.reason if e.status in (404, 405) else e.text or e.reason)
        except (BrowseError, ops.OpError) as e:
            return _error(400, str(e))
        except KafkaError as e:  # the cluster did not answer as asked (down, timed out)
            return _error(503, str(e))
        except ops.REFUSALS as e:  # the cluster is not in a state to do it
            return _error(409, str(e))
        except Exception as e:
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, f"internal error ({type(e).__name__}); the console's log "
                               "has the details")

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / "index.html").read_bytes(),
                            content_type="text/html", headers={"Cache-Control": "no-cache"})

    def _json_view(self, view):
        async def handler(request: web.Request) -> web.Response:
            return _json(view())
        return handler

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        sent = -1
        try:
            while not self._stopping:
                if self.state.version != sent and self.state.version > 0:
                    sent = self.state.version
                    await resp.write(b"event: state\ndata: " + self._state_bytes() + b"\n\n")
                changed = self._changed
                try:
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        return resp

    async def _messages(self, request: web.Request) -> web.Response:
        q = request.query
        topic = q.get("topic")
        if not topic:
            raise BrowseError("give ?topic=NAME&partition=N")
        limit_max = self.settings.browse_records_max
        req = BrowseRequest(
            topic, _int(q, "partition", required=True),
            offset=_int(q, "offset"), timestamp_ms=_int(q, "timestamp_ms"),
            limit=_int(q, "limit", default=50, hi=limit_max))
        if req.offset is not None and req.timestamp_ms is not None:
            raise BrowseError("give offset or timestamp_ms, not both")
        return _json(await asyncio.to_thread(self._browse, req))

    def _browse(self, req: BrowseRequest) -> dict[str, Any]:
        cluster = self.reader.cluster()
        if cluster is None:
            raise BrowseError("no cluster is running")
        request_timeout_ms = cluster.config.timeouts.request_timeout_ms
        admin = Admin(cluster.bootstrap, client_id="mini-kafka-console-browse",
                      request_timeout_ms=request_timeout_ms)
        try:
            with Consumer(bootstrap_servers=cluster.bootstrap, enable_auto_commit=False,
                          client_id="mini-kafka-console-browse", fetch_max_wait_ms=POLL_MS,
                          request_timeout_ms=request_timeout_ms) as consumer:
                return browse(admin, consumer, req,
                              value_bytes_max=self.settings.browse_value_bytes_max,
                              deadline_s=BROWSE_DEADLINE_S)
        finally:
            admin.close()

    async def _chaos(self, request: web.Request) -> web.Response:
        op = request.match_info["op"]
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                raise ops.OpError("the body must be JSON, e.g. {\"node\": \"broker-2\"}") \
                    from None
        if not isinstance(body, dict) or not isinstance(body.get("node", ""), str | None):
            raise ops.OpError("the body must be a JSON object like {\"node\": \"broker-2\"}")
        cluster = await asyncio.to_thread(self.reader.cluster)
        if cluster is None:
            return _error(409, "no cluster is running")
        ops.check(cluster, op, body.get("node"))
        async with self._op_lock:  # one change at a time, from however many pages
            result = await asyncio.to_thread(ops.apply, cluster, op, body.get("node"))
        self._wake.set()  # show its effect now, not at the next tick
        return _json(result)


def _int(q, name: str, *, required: bool = False, default: int | None = None,
         hi: int | None = None) -> int | None:
    text = q.get(name)
    if text is None or text == "":
        if required:
            raise BrowseError(f"{name} is required")
        return default
    try:
        value = int(text)
    except ValueError:
        raise BrowseError(f"{name}={text!r}: must be an integer") from None
    if value < 0 or (hi is not None and value > hi):
        raise BrowseError(f"{name}={value}: must be between 0 and {hi}" if hi is not None
                          else f"{name}={value}: must not be negative")
    return value


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers={"Cache-Control": "no-cache"})


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message, "status": status}, status)
