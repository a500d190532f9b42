"""Which cluster a command means, found the way users expect, the same for every command.

In order: `--config PATH`; then `$MINI_KAFKA_CLUSTER`; then, walking up from the current
directory, the first directory holding a `cluster.yaml` (its data_dir) or a
`logs/cluster.json`. A PATH is a cluster.yaml, a cluster.json, a cluster's data_dir
(holding cluster.json) or a directory holding cluster.yaml. The nearest directory wins
even when its cluster is down: a command run inside a project never reaches for some
other cluster further up. When nothing is found the error says everywhere it looked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.state import STATE_FILE
from mini_kafka.config import ConfigError, load_config

ENV = "MINI_KAFKA_CLUSTER"
CONFIG_FILE = "cluster.yaml"
DEFAULT_DATA_DIR = "logs"
HINT = (f"start one with `mini-kafka cluster up`, or say where it is with --config PATH or "
        f"{ENV}=PATH (a cluster.yaml, or the data directory holding {STATE_FILE})")


class NotFound(RuntimeError):
    """No cluster where the user pointed, or anywhere it was looked for."""


@dataclass(frozen=True)
class Place:
    """Where a cluster is: its config file, and/or its state file (cluster.json)."""

    config: Path | None
    state: Path | None
    how: str  # how it was found, for messages: "--config x", "$MINI_KAFKA_CLUSTER=x", ...


def running_cluster(explicit: str | os.PathLike | None = None, *,
                    env: Mapping[str, str] | None = None, cwd: Path | None = None,
                    top: Path | None = None) -> Path:
    """The state file (cluster.json) of the running cluster the command means. `env`,
    `cwd` and `top` (walk no higher) default to the process's own and the root."""
    place = _locate(explicit, env, cwd, top)
    if place.state is None or not place.state.exists():
        raise NotFound(f"no cluster is running for {place.how}: {place.state} not found; "
                       f"{HINT}")
    return place.state


def cluster_config(explicit: str | os.PathLike | None = None, *,
                   env: Mapping[str, str] | None = None, cwd: Path | None = None,
                   top: Path | None = None) -> Path:
    """The cluster.yaml a command that starts a cluster means (`cluster up`, `chaos run`)."""
    place = _locate(explicit, env, cwd, top, want_config=True)
    if place.config is None:
        raise NotFound(f"{place.how} is a running cluster's state, not a cluster.yaml to "
                       "start one from: give --config FILE")
    return place.config


def config_of(explicit: str | os.PathLike | None = None, *,
              env: Mapping[str, str] | None = None, cwd: Path | None = None,
              top: Path | None = None) -> Path:
    """The config of the cluster a command means: the cluster.yaml it was found by, or,
    when only its state was found, the config its nodes were started with."""
    place = _locate(explicit, env, cwd, top)
    if place.config is not None:
        return place.config
    try:
        return Path(json.loads(place.state.read_text())["config_path"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NotFound(f"{place.how}: {place.state} names no config ({e})") from None


def _locate(explicit, env, cwd, top, want_config: bool = False) -> Place:
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if explicit is not None:
        return _at(cwd / Path(explicit), f"--config {explicit}")
    if env.get(ENV):
        return _at(cwd / Path(env[ENV]), f"${ENV}={env[ENV]}")
    for directory in (cwd, *cwd.parents):
        place = _in_directory(directory, cwd, want_config)
        if place is not None:
            return place
        if directory == top:
            break
    raise NotFound(f"no mini-kafka cluster found: no --config given, ${ENV} not set, and no "
                   f"{CONFIG_FILE} or {DEFAULT_DATA_DIR}/{STATE_FILE} in {cwd} or any "
                   f"directory above it; {HINT}")


def _in_directory(directory: Path, cwd: Path, want_config: bool) -> Place | None:
    where = "in the current directory" if directory == cwd else f"walking up from {cwd}"
    config = directory / CONFIG_FILE
    if config.is_file():
        return _from_config(config, f"{config} (the nearest {CONFIG_FILE}, {where})")
    state = directory / DEFAULT_DATA_DIR / STATE_FILE
    if state.is_file() and not want_config:
        return Place(None, state, f"{state} (the nearest {DEFAULT_DATA_DIR}/{STATE_FILE}, "
                                  f"{where})")
    return None


def _at(path: Path, how: str) -> Place:
    if path.is_dir():
        if (path / STATE_FILE).is_file():
            return Place(None, path / STATE_FILE, how)
        if (path / CONFIG_FILE).is_file():
            return _from_config(path / CONFIG_FILE, how)
        raise NotFound(f"{how}: {path} holds neither {STATE_FILE} (a running cluster's data "
                       f"directory) nor {CONFIG_FILE}; {HINT}")
    if path.name == STATE_FILE:
        return Place(None, path, how)
    if not path.exists():
        raise NotFound(f"{how}: {path} does not exist; {HINT}")
    return _from_config(path, how)


def _from_config(path: Path, how: str) -> Place:
    try:
        config = load_config(path)
    except ConfigError as e:
        raise NotFound(f"{how}: {e}") from None
    return Place(path, config.data_dir / STATE_FILE, how)
