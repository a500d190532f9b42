"""The only package that imports zmq: sockets, framing on the wire, timeouts, retries,
the cluster's keys and their checking (CURVE, ZAP), and the fault-injection seam.
Everything else talks to peers through these classes."""

from mini_kafka.transport.client import Client
from mini_kafka.transport.faults import Decision, FaultRule, FaultRules
from mini_kafka.transport.keys import ClusterKeys, KeysError, ensure_keys, load_keys
from mini_kafka.transport.server import AddressInUse, Server
from mini_kafka.transport.sync import call
from mini_kafka.transport.zap import ZapHandler

__all__ = ["AddressInUse", "Client", "ClusterKeys", "Decision", "FaultRule", "FaultRules",
           "KeysError", "Server", "ZapHandler", "call", "ensure_keys", "load_keys"]
