"""Who may ask what, and where: the policy behind a node's two endpoints — pure.

Every node has an open endpoint (no authentication, like Kafka's PLAINTEXT listener):
it serves the client APIs (protocol.CLIENT_APIS) and nothing that lets a caller act as
part of the cluster — no Raft, no controller writes or metadata polls, no broker
sessions, no fault rules, no status, and no FETCH as a replica (a replica's fetches keep
it in the ISR: a process posing as both followers once kept an ISR full while they held
nothing, and acknowledged records were lost when the leader died).

Its authenticated endpoint (CURVE, checked through ZAP) serves the cluster's members:
every node and the launcher (which the CLI's cluster commands act as), each with its
own key. The transport has checked that each message's sender is the member whose key
its connection holds; what remains is that what a member claims in the body is its own.
"""

from __future__ import annotations

from typing import Any

from mini_kafka.protocol import CLIENT_APIS, ApiKey, Message, api_name

LAUNCHER = "launcher"  # the launcher's and the CLI's identity among the members


def member_names(config) -> list[str]:
    """Everyone who holds a key of this cluster."""
    return [*(s.name for s in config.nodes), LAUNCHER]


def _is_replica_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def refusal_on_open_endpoint(msg: Message) -> str | None:
    """Why a request on the open endpoint is refused (CLUSTER_AUTHORIZATION_FAILED), or
    None to serve it."""
    if msg.api not in CLIENT_APIS:
        return (f"{api_name(msg.api)} is for the cluster's own members: it is served only "
                "on the node's authenticated endpoint, to holders of the cluster's keys")
    if msg.api == ApiKey.FETCH and _is_replica_id(msg.body.get("replica_id", -1)):
        return ("a FETCH with replica_id >= 0 is a follower's: replicas fetch on the "
                "authenticated endpoint; consumers send replica_id -1")
    return None


def refusal_from_member(msg: Message) -> str | None:
    """Why an authenticated member's request is refused because it claims to be another
    member, or None to serve it."""
    claimed = None
    if msg.api == ApiKey.FETCH and _is_replica_id(msg.body.get("replica_id", -1)):
        claimed = f"broker-{msg.body['replica_id']}"
    elif msg.api in (ApiKey.BROKER_REGISTRATION, ApiKey.BROKER_HEARTBEAT):
        claimed = f"broker-{msg.body.get('broker_id')}"
    elif msg.api == ApiKey.RAFT:
        claimed = f"coordinator-{msg.body.get('src')}"
    if claimed is not None and claimed != msg.sender:
        return f"{msg.sender} may not speak for {claimed} ({api_name(msg.api)})"
    return None
