"""The coordinator ensemble: Raft over the transport and the cluster-metadata state machine."""
