"""Kafka's wire protocol, for the brokers' Kafka listener — pure: no sockets, no clock.

Messages come from kio, a codec generated from Kafka's own JSON message schemas (one
dataclass per API version, native decoders). This package adds what a broker needs on
top: request framing and headers (framing.py), the API versions advertised (versions.py),
building a response for whatever version was asked (entities.py), and one adapter per
API family that turns a Kafka request into a call of the broker's protocol-neutral
handlers and their reply into Kafka's response (metadata.py, produce.py, fetch.py,
groups.py, txn.py, admin.py).
"""
