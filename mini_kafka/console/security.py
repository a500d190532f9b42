"""Who may do what — pure checks the server applies to each request.

Reading is open to this host (like Kafka's PLAINTEXT listener). Changing the cluster needs
the per-run token printed at start, sent in a header no other site can set on a request to
us without CORS approval, and a request from our own page: a web page from anywhere else,
open in the same browser, must not kill brokers (CSRF). The Host header must name this
server, so a DNS-rebound name cannot read the page as its own origin either.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping

TOKEN_HEADER = "X-Console-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(18)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, port: int) -> set[str] | None:
    """The Host headers this server answers to; None (any) when bound beyond loopback."""
    if not is_loopback(bind_host):
        return None
    names = {bind_host, *LOOPBACK_NAMES}
    return {f"{n}:{port}" for n in names}


def host_refusal(host_header: str | None, allowed: set[str] | None) -> str | None:
    if allowed is None:
        return None
    if not host_header or host_header.lower() not in allowed:
        return (f"Host {host_header!r} is not this console (expected one of "
                f"{', '.join(sorted(allowed))})")
    return None


def write_refusal(headers: Mapping[str, str], token: str) -> str | None:
    """Why a request that changes the cluster is refused, or None to let it through."""
    origin = headers.get("Origin")
    host = headers.get("Host", "")
    if origin is not None and origin != f"http://{host}":
        return f"cross-origin request refused: Origin {origin!r} is not this console"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    given = headers.get(TOKEN_HEADER)
    if not given:
        return (f"this operation needs the console's token in the {TOKEN_HEADER} header "
                "(printed when the console started)")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return "wrong console token"
    return None
