"""`mini-kafka <command> ...`: one entry point, a module per command group."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from mini_kafka.cli import chaos, cluster, console, group, perf, topic, web
from mini_kafka.config import ConfigError
from mini_kafka.errors import KafkaError

COMMAND_GROUPS = [cluster, topic, console, group, chaos, perf, web]
USAGE_EXIT_CODE = 2  # argparse's, for a command line that names no command


def build_parser(prog: str = "mini-kafka") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="A Kafka-like cluster on one host.",
        epilog=f"`{prog} COMMAND --help` describes a command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command_group in COMMAND_GROUPS:
        command_group.register(sub)
    _help_when_no_command(parser)
    return parser


def _help_when_no_command(parser: argparse.ArgumentParser) -> None:
    """`mini-kafka` or `mini-kafka topic` alone prints the commands it could run, not
    just "the following arguments are required"."""
    for action in parser._actions:  # argparse has no public way to walk its subparsers
        if isinstance(action, argparse._SubParsersAction):
            action.required = False
            parser.set_defaults(func=lambda args, p=parser: _print_help(p))
            for child in action.choices.values():
                _help_when_no_command(child)


def _print_help(parser: argparse.ArgumentParser) -> int:
    sys.stdout.write(parser.format_help())  # print_help() would hide a closed pipe
    return USAGE_EXIT_CODE


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, prog: str = "mini-kafka") -> int:
    # SIGTERM and a closed terminal (SIGHUP) end a command the way Ctrl-C does (Kafka's
    # tools run their shutdown hook): a console consumer leaves its group and commits
    # instead of lingering as a member; `chaos pause --for` resumes its node.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        args = build_parser(prog).parse_args(argv)
        code = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except (ConfigError, KafkaError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a path the command had to use: name it and the reason
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _reader_gone() -> int:
    """The reader of stdout went away (`mini-kafka topic describe | head`): stop quietly
    with SIGPIPE's exit status, as Unix tools do. Whatever is still buffered goes nowhere,
    so the interpreter's own flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
