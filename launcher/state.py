"""logs/cluster.json: what a running cluster is made of, so `status`, `down`, `restart`
and chaos commands work from any shell, long after `cluster up` returned."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
CLUSTER_ID_FILE = "cluster-id"
EFFECTIVE_CONFIG_FILE = "cluster.effective.yaml"


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(data_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RuntimeError(f"{state_path(data_dir)} is unreadable ({e}); remove it if no "
                           "cluster is running") from e


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(data_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # readers never see a half-written file


def remove_state(data_dir: Path) -> None:
    state_path(data_dir).unlink(missing_ok=True)


def ensure_cluster_id(data_dir: Path) -> str:
    """The cluster's id (Kafka's cluster.id: a UUID, base64url, 22 characters), made at
    the first start and kept with the data, as Kafka keeps it in meta.properties."""
    path = data_dir / CLUSTER_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(cluster_id + "\n")
    return cluster_id
