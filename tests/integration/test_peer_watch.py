"""PeerWatch against real processes: a killed peer is reported at once, a paused one never,
and a peer that comes back is watched again."""

import asyncio
import signal
import subprocess
import sys
import time

from launcher.ports import free_ports
from mini_kafka.transport.watch import PeerWatch

# A bare peer: a ZeroMQ server socket in its own process, as every node has.
PEER = ("import sys, time, zmq; s = zmq.Context().socket(zmq.ROUTER); s.bind(sys.argv[1]); "
        "print('bound', flush=True); time.sleep(120)")


def start_peer(endpoint: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", PEER, endpoint], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "bound"
    return proc


async def until(predicate, timeout_s: float = 10.0) -> float:
    """Seconds until predicate() holds (polled on the loop, so the watch runs)."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - began


def test_a_killed_peer_is_lost_at_once_a_paused_one_is_not_and_a_returning_one_is_watched():
    endpoint = f"tcp://127.0.0.1:{free_ports('127.0.0.1', 1)[0]}"
    procs = [start_peer(endpoint)]

    async def main():
        lost = []
        watch = PeerWatch(lost.append)
        try:
            watch.watch(endpoint)
            await until(lambda: watch.is_up(endpoint))

            procs[0].send_signal(signal.SIGSTOP)  # paused: its connections stay open
            await asyncio.sleep(0.5)  # nothing may be reported during a pause
            assert lost == [] and watch.is_up(endpoint)
            procs[0].send_signal(signal.SIGCONT)

            procs[0].kill()
            took_s = await until(lambda: lost)
            assert lost == [endpoint] and not watch.is_up(endpoint)
            assert took_s < 1.0, f"a kill took {took_s:.3f} s to notice"
            procs[0].wait()

            procs.append(start_peer(endpoint))  # the next incarnation, on the same port
            await until(lambda: watch.is_up(endpoint))
            assert lost == [endpoint], "a returning peer is not a loss"
            procs[1].kill()
            await until(lambda: len(lost) == 2)
        finally:
            watch.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            proc.stdout.close()


def test_a_peer_that_never_started_is_no_loss_and_catch_up_reports_what_already_happened():
    """Also: an endpoint ZeroMQ cannot use is refused without breaking the watch."""
    endpoint = f"tcp://127.0.0.1:{free_ports('127.0.0.1', 1)[0]}"

    async def main():
        lost = []
        watch = PeerWatch(lost.append)
        try:
            watch.watch("not an endpoint")  # a peer registered garbage: logged, no crash
            assert "not an endpoint" in watch.watching()
            watch.unwatch("not an endpoint")
            watch.watch(endpoint)  # refused, retried: no news
            await asyncio.sleep(0.3)
            assert lost == [] and not watch.is_up(endpoint)
            proc = start_peer(endpoint)
            try:
                await until(lambda: watch.is_up(endpoint))
            finally:
                proc.kill()
                proc.wait()
                proc.stdout.close()
            # The drop is in the monitor's queue before the loop gets to it: catch_up
            # reports it synchronously (what the controller does before it binds a
            # connection to a new broker incarnation).
            time.sleep(0.2)
            watch.catch_up()
            assert lost == [endpoint]
        finally:
            watch.close()

    asyncio.run(asyncio.wait_for(main(), 30))
