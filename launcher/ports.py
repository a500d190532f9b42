"""Address checks before spawning: an unusable host, a port taken or an address other
hosts can reach gets a clear message instead of a node that dies at bind, and port 0 in
the config is resolved to free ports here."""

from __future__ import annotations

import errno
import ipaddress
import socket

WILDCARD = "0.0.0.0"


class AddressError(ValueError):
    """cluster.host cannot be used, with the reason."""


def host_addresses(host: str) -> list[str]:
    """The IPv4 addresses `host` stands for; AddressError naming why it cannot be used."""
    if ":" in host or host.startswith("["):
        raise AddressError(f"cluster.host = {host!r}: IPv6 addresses are not supported (each "
                           "node listens on tcp://HOST:PORT over IPv4); use 127.0.0.1")
    if host == WILDCARD:
        return [WILDCARD]
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise AddressError(f"cluster.host = {host!r} does not resolve to an IPv4 address "
                           f"({reason}); use 127.0.0.1 or a name this machine resolves") \
            from None
    return sorted({info[4][0] for info in infos})


def remote_exposure(host: str, addresses: list[str]) -> str | None:
    """Why listening on `host` lets other hosts reach the cluster, or None (loopback)."""
    if addresses == [WILDCARD]:
        return (f"{host} listens on every interface of this machine, and is also the address "
                "the brokers advertise to clients (so clients on other hosts are told to "
                "connect to 0.0.0.0, their own machine)")
    outside = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if outside:
        return f"{host} ({', '.join(outside)}) is not a loopback address"
    return None


def bind_problem(host: str, port: int) -> str | None:
    """Why a node could not listen on host:port now, or None if it can."""
    # ZeroMQ binds with SO_REUSEADDR, so a port in TIME_WAIT is usable; test the same way.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            return _reason(host, e)
    return None


def _reason(host: str, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "in use by another process"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return error.strerror or str(error)


def free_ports(host: str, count: int) -> list[int]:
    """Ports the OS assigns now. All are held open until all are picked, so they differ."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    except OSError as e:
        raise AddressError(f"cannot pick free ports on {host}: {_reason(host, e)}") from None
    finally:
        for sock in socks:
            sock.close()
