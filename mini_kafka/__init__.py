"""mini-kafka: a Kafka-like broker cluster that runs as processes on one host."""

__version__ = "0.1.0"
