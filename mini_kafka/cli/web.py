"""`mini-kafka console`: serve the web console for the running cluster (mini_kafka/console).

The console producer and consumer are `mini-kafka produce` / `consume` (cli/console.py).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from mini_kafka.cli.common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    console = sub.add_parser("console", help="serve a live web view of the running cluster, "
                                             "with chaos controls")
    console.add_argument("--port", dest="console_port", type=int,
                         help="the console's port (default: console.port, 8080; 0 picks one)")
    console.add_argument("--host", dest="console_host",
                         help="the address to bind (default: console.host, 127.0.0.1)")
    console.add_argument("--config", metavar="PATH",
                         help="the cluster, found as every command finds it (default: "
                              "$MINI_KAFKA_CLUSTER, else the nearest cluster.yaml or "
                              "logs/cluster.json); its console section sets the defaults")
    console.set_defaults(func=cmd_console)


def cmd_console(args) -> int:
    from launcher import discovery

    running = start(discovery.config_of(args.config), host=args.console_host,
                    port=args.console_port)
    print(running.banner(), flush=True)
    print("Ctrl-C stops the console; the cluster keeps running", flush=True)
    running.wait()
    return 0


@dataclass
class RunningConsole:
    url: str
    token: str
    port: int
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    stopped: asyncio.Event
    warning: str | None = None

    def banner(self) -> str:
        lines = [f"mini-kafka console: {self.url}/?token={self.token}",
                 f"  chaos controls need this run's token: {self.token}"]
        if self.warning:
            lines.append(f"  warning: {self.warning}")
        return "\n".join(lines)

    def wait(self) -> None:
        """Until the console stops, or Ctrl-C (then stop it)."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopped.set)
            self.thread.join(10)


def start(config_path: str | Path, host: str | None = None, port: int | None = None
          ) -> RunningConsole:
    """Serve the console in a thread of its own; returns once it listens (or raises)."""
    from mini_kafka.config import load_config
    from mini_kafka.console.collect import ClusterReader
    from mini_kafka.console.security import is_loopback, new_token
    from mini_kafka.console.server import ConsoleServer

    path = Path(config_path)
    if not path.exists():
        raise CliError(f"{path} not found: give --config, the cluster.yaml the cluster "
                       "was started with")
    settings = load_config(path).console
    settings = replace(settings, host=host or settings.host,
                       port=settings.port if port is None else port)
    if not 0 <= settings.port <= 65535:
        raise CliError(f"console port {settings.port}: must be between 0 and 65535")
    server = ConsoleServer(ClusterReader(path), settings, new_token())
    ready: dict = {}
    started = threading.Event()

    async def serve() -> None:
        from aiohttp import web

        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            ready["error"] = _bind_error(settings, e)
            started.set()
            return
        bound = runner.addresses[0][1]
        server.bound_to(bound)
        ready.update(port=bound, loop=asyncio.get_running_loop(), stopped=asyncio.Event())
        started.set()
        try:
            await ready["stopped"].wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="console",
                              daemon=True)
    thread.start()
    started.wait()
    if "error" in ready:
        thread.join()
        raise CliError(ready["error"])
    shown = settings.host if ":" not in settings.host else f"[{settings.host}]"
    warning = None if is_loopback(settings.host) else (
        f"bound to {settings.host}: anyone who can reach this port can read the cluster "
        "(changing it still needs the token)")
    return RunningConsole(f"http://{shown}:{ready['port']}", server.token, ready["port"],
                          thread, ready["loop"], ready["stopped"], warning)


def _bind_error(settings, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return (f"console port {settings.port} on {settings.host} is in use: set console.port "
                "in the config or pass another port (0 picks a free one)")
    return f"cannot serve the console on {settings.host}:{settings.port}: {e.strerror or e}"

