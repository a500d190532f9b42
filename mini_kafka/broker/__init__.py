"""The broker: partition logs, replication, group coordination, and its process shell."""
