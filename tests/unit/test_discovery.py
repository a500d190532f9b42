"""Finding the cluster a command means: --config, then $MINI_KAFKA_CLUSTER, then the
nearest cluster.yaml or logs/cluster.json walking up; an error that says where it looked."""

from __future__ import annotations

import json

import pytest
import yaml

from launcher.discovery import ENV, NotFound, cluster_config, config_of, running_cluster


def project(root, data_dir="logs", running=True):
    """A directory with a cluster.yaml, and its cluster's state when it runs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cluster.yaml").write_text(yaml.safe_dump({"cluster": {"data_dir": data_dir}}))
    state = (root / data_dir).resolve() / "cluster.json"
    if running:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text("{}")
    return state


def test_the_nearest_cluster_is_found_from_any_directory_below_it(tmp_path):
    state = project(tmp_path / "app")
    deep = tmp_path / "app" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert running_cluster(env={}, top=tmp_path, cwd=deep) == state
    assert running_cluster(env={}, top=tmp_path, cwd=tmp_path / "app") == state
    assert cluster_config(env={}, top=tmp_path, cwd=deep) == tmp_path / "app" / "cluster.yaml"
    # A data_dir elsewhere is found through the cluster.yaml that names it.
    moved = project(tmp_path / "other", data_dir=str(tmp_path / "elsewhere"))
    assert running_cluster(env={}, top=tmp_path, cwd=tmp_path / "other") == moved


def test_a_logs_directory_without_a_config_is_found_too(tmp_path):
    state = tmp_path / "work" / "logs" / "cluster.json"
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    (tmp_path / "work" / "sub").mkdir()
    assert running_cluster(env={}, top=tmp_path, cwd=tmp_path / "work" / "sub") == state


def test_the_nearest_project_wins_even_when_its_cluster_is_down(tmp_path):
    """A command run inside a project never reaches for another cluster further up."""
    project(tmp_path)
    project(tmp_path / "inner", running=False)
    with pytest.raises(NotFound, match="no cluster is running for .*inner/cluster.yaml"):
        running_cluster(env={}, top=tmp_path, cwd=tmp_path / "inner")


def test_config_then_the_environment_then_walking_up(tmp_path):
    near = project(tmp_path / "here")
    far = project(tmp_path / "there")
    cwd = tmp_path / "here"
    assert running_cluster(env={ENV: str(tmp_path / "there")}, top=tmp_path, cwd=cwd) == far
    assert running_cluster(str(tmp_path / "here" / "cluster.yaml"),
                           env={ENV: str(tmp_path / "there")}, top=tmp_path, cwd=cwd) == near
    # The environment (or --config) may name a cluster.yaml, a data dir or its cluster.json,
    # relative to the current directory.
    for form in ("../there/cluster.yaml", "../there/logs", "../there/logs/cluster.json",
                 "../there"):
        assert running_cluster(env={ENV: form}, top=tmp_path, cwd=cwd).resolve() == far, form
        assert running_cluster(form, env={}, top=tmp_path, cwd=cwd).resolve() == far, form


def test_an_explicit_place_that_holds_no_cluster_is_an_error_not_a_fallback(tmp_path):
    project(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFound, match=f"\\${ENV}={empty}: .* holds neither cluster.json"):
        running_cluster(env={ENV: str(empty)}, top=tmp_path, cwd=tmp_path)
    with pytest.raises(NotFound, match="--config nope.yaml: .*nope.yaml does not exist"):
        running_cluster("nope.yaml", env={}, top=tmp_path, cwd=tmp_path)
    with pytest.raises(NotFound, match="not a cluster.yaml to start one from"):
        cluster_config(str(tmp_path / "logs"), env={}, top=tmp_path, cwd=tmp_path)
    (tmp_path / "bad.yaml").write_text("brokers: {count: 0}\n")
    with pytest.raises(NotFound, match="brokers.count = 0"):
        running_cluster("bad.yaml", env={}, top=tmp_path, cwd=tmp_path)


def test_nothing_found_says_everywhere_it_looked(tmp_path):
    lonely = tmp_path / "a" / "b"
    lonely.mkdir(parents=True)
    with pytest.raises(NotFound) as info:
        running_cluster(env={}, top=tmp_path, cwd=lonely)
    message = str(info.value)
    assert "no --config given" in message and f"${ENV} not set" in message
    assert f"cluster.yaml or logs/cluster.json in {lonely} or any directory above it" in message
    assert "mini-kafka cluster up" in message


def test_the_config_of_a_cluster_found_by_its_state_is_the_one_it_was_started_with(tmp_path):
    project(tmp_path / "app")
    assert config_of(env={}, top=tmp_path, cwd=tmp_path / "app") == \
        tmp_path / "app" / "cluster.yaml"
    data = tmp_path / "data"
    data.mkdir()
    (data / "cluster.json").write_text(json.dumps(
        {"config_path": str(data / "cluster.effective.yaml")}))
    assert config_of(str(data), env={}, top=tmp_path, cwd=tmp_path) == \
        data / "cluster.effective.yaml"
