"""`mini-kafka <command> ...`: one entry point, a module per command group."""

from __future__ import annotations

import argparse
import signal
import sys

from mini_kafka.cli import chaos, cluster, console, group, perf, topic
from mini_kafka.config import ConfigError
from mini_kafka.errors import KafkaError

COMMAND_GROUPS = [cluster, topic, console, group, chaos, perf]


def build_parser(prog: str = "mini-kafka") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="A Kafka-like cluster on one host.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command_group in COMMAND_GROUPS:
        command_group.register(sub)
    return parser


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, prog: str = "mini-kafka") -> int:
    args = build_parser(prog).parse_args(argv)
    # SIGTERM ends a command the way Ctrl-C does (Kafka's tools run their shutdown hook):
    # a console consumer leaves its group and commits instead of lingering as a member.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args) or 0
    except (ConfigError, KafkaError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
