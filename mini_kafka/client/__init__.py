"""Kafka-style clients for mini-kafka (names follow kafka-python where it has one)."""

from mini_kafka.client.admin import Admin, NewTopic
from mini_kafka.client.consumer import (
    Consumer,
    ConsumerRecord,
    OffsetOutOfRangeError,
    TopicPartition,
)
from mini_kafka.client.producer import FutureRecordMetadata, Producer, RecordMetadata

__all__ = ["Admin", "Consumer", "ConsumerRecord", "FutureRecordMetadata", "NewTopic",
           "OffsetOutOfRangeError", "Producer", "RecordMetadata", "TopicPartition"]
