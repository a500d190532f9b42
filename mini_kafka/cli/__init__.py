"""The `mini-kafka` command line."""
