"""What the commands share: finding the cluster, parsing durations and k=v options."""

from __future__ import annotations

import argparse
import inspect
import re

DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>ms|s|m)?$")


class CliError(RuntimeError):
    """A bad command line: printed as `error: ...`, exit code 1."""


def parse_duration_s(text: str) -> float:
    match = DURATION.match(text.strip())
    if not match:
        raise CliError(f"duration {text!r}: expected e.g. 500ms, 5s or 2m")
    return float(match["n"]) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match["unit"]]


WHERE_HELP = ("the cluster: a cluster.yaml, or the data directory holding its cluster.json "
              "(default: $MINI_KAFKA_CLUSTER, else the nearest cluster.yaml or "
              "logs/cluster.json in this directory or one above it)")


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-server", metavar="HOST:PORT[,...]",
                        help="brokers to bootstrap from (default: the running cluster's)")
    parser.add_argument("--cluster-config", metavar="PATH", help=WHERE_HELP)


def bootstrap(args, kafka: bool = False) -> str:
    """The running cluster's bootstrap list: mini_kafka.client's (the brokers' ZeroMQ
    endpoints), or with `kafka` the brokers' Kafka listeners, for Kafka clients."""
    if args.bootstrap_server:
        return args.bootstrap_server
    from launcher import discovery
    from launcher.state import read_state

    state_file = discovery.running_cluster(args.cluster_config)
    state = read_state(state_file.parent)
    key = "kafka_bootstrap" if kafka else "bootstrap"
    if not state or not state.get(key):
        raise CliError(f"{state_file} names no {'Kafka listeners' if kafka else 'brokers'}; "
                       "give --bootstrap-server")
    return state[key]


def parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


INJECTED = ("clock", "rng")  # a client's time and randomness, for tests: not properties


def client_kwargs(pairs: dict[str, str], cls, what: str, *, reserved=()) -> dict:
    """Kafka-style properties (linger.ms=5) -> keyword arguments of a client class, each
    value typed as the keyword's default is (an integer for linger.ms, ...)."""
    params = inspect.signature(cls.__init__).parameters
    allowed = sorted(p for p in params if params[p].kind == params[p].KEYWORD_ONLY
                     and p not in reserved and not p.endswith("serializer")
                     and p not in INJECTED)
    out = {}
    for key, value in pairs.items():
        name = key.replace(".", "_")
        if name not in allowed:
            raise CliError(f"unknown {what} {key!r} (allowed: "
                           f"{', '.join(a.replace('_', '.') for a in allowed)})")
        out[name] = _typed(value, params[name], f"{what} {key}")
    return out


def _typed(value: str, param: inspect.Parameter, what: str):
    kind = _kind_of(param)
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise CliError(f"{what}={value!r}: must be true or false")
        return value.lower() == "true"
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise CliError(f"{what}={value!r}: must be an integer") from None
    return value  # strings, and names the client checks itself (acks=all, ...)


def _kind_of(param: inspect.Parameter) -> type | None:
    """bool, int or None (text) from the keyword's default, else its annotation (kept as
    text under `from __future__ import annotations`, e.g. "bool | None")."""
    default = param.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    annotation = str(param.annotation)
    for kind in (bool, int):
        if kind.__name__ in annotation.replace(" ", "").split("|"):
            return kind
    return None
