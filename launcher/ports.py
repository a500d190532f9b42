"""Port checks before spawning: a busy port gets a clear message instead of a node that
dies at bind, and port 0 in the config is resolved to free ports here."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    # ZeroMQ binds with SO_REUSEADDR, so a port in TIME_WAIT is usable; test the same way.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(host: str, count: int) -> list[int]:
    """Ports the OS assigns now. All are held open until all are picked, so they differ."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()
