"""What the data commands share: finding the cluster, parsing k=v options."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

from mini_kafka.config import load_config

DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>ms|s|m)?$")


class CliError(RuntimeError):
    """A bad command line: printed as `error: ...`, exit code 1."""


def parse_duration_s(text: str) -> float:
    match = DURATION.match(text.strip())
    if not match:
        raise CliError(f"duration {text!r}: expected e.g. 500ms, 5s or 2m")
    return float(match["n"]) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match["unit"]]


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-server", metavar="HOST:PORT[,...]",
                        help="brokers to bootstrap from (default: the running cluster in "
                             "logs/cluster.json, else the brokers in --cluster-config)")
    parser.add_argument("--cluster-config", default="cluster.yaml", metavar="FILE",
                        help="cluster.yaml to find the cluster by (default: cluster.yaml)")


def bootstrap(args) -> str:
    if args.bootstrap_server:
        return args.bootstrap_server
    from launcher.state import read_state

    path = Path(args.cluster_config)
    if not path.exists():
        raise CliError(f"no --bootstrap-server given and no {path} to find the cluster by")
    config = load_config(path)
    state = read_state(config.data_dir)
    if state and state.get("bootstrap"):
        return state["bootstrap"]
    brokers = [f"{s.host}:{s.port}" for s in config.nodes if s.role == "broker" and s.port]
    if not brokers:
        raise CliError(f"{path} picks broker ports at start (base_port 0) and no cluster is "
                       "running: give --bootstrap-server")
    return ",".join(brokers)


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
    """Kafka-style properties (linger.ms=5) -> keyword arguments of a client class."""
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
        out[name] = _typed(value)
    return out


def _typed(value: str):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value
