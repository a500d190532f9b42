"""Kafka-style clients for mini-kafka (names follow kafka-python where it has one)."""

from mini_kafka.client.admin import Admin, NewTopic
from mini_kafka.client.batch import FutureRecordMetadata, RecordMetadata
from mini_kafka.client.consumer import Consumer, CorruptRecordBatchError, OffsetOutOfRangeError
from mini_kafka.client.group_member import CommitFailedError
from mini_kafka.client.producer import Producer
from mini_kafka.client.types import ConsumerRecord, OffsetAndMetadata, TopicPartition

__all__ = ["Admin", "CommitFailedError", "Consumer", "ConsumerRecord",
           "CorruptRecordBatchError", "FutureRecordMetadata", "NewTopic", "OffsetAndMetadata",
           "OffsetOutOfRangeError", "Producer", "RecordMetadata", "TopicPartition"]
