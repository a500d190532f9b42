"""The only package that imports zmq: sockets, framing on the wire, timeouts, retries and
the fault-injection seam. Everything else talks to peers through these classes."""

from mini_kafka.transport.client import Client
from mini_kafka.transport.faults import Decision, FaultRule, FaultRules
from mini_kafka.transport.server import AddressInUse, Server
from mini_kafka.transport.sync import call

__all__ = ["AddressInUse", "Client", "Decision", "FaultRule", "FaultRules", "Server", "call"]
