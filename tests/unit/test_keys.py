"""The cluster's CURVE keys on disk: made once, kept, private, refused when exposed."""

import os
import re
import stat

import pytest
import zmq

from mini_kafka.transport import KeysError, ensure_keys, load_keys
from mini_kafka.transport.keys import public_path, secret_path

NAMES = ["coordinator-1", "broker-1", "launcher"]


def test_curve_is_available_in_this_zeromq():
    # The cluster's own traffic depends on it: fail loudly, never skip.
    assert zmq.has("curve"), "this libzmq was built without CURVE; mini-kafka needs it"


def test_keys_are_made_once_with_owner_only_permissions_and_then_kept(tmp_path):
    keys_dir = tmp_path / "logs" / "keys"
    assert ensure_keys(keys_dir, NAMES) == NAMES
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for name in NAMES:
        assert stat.S_IMODE(secret_path(keys_dir, name).stat().st_mode) == 0o600
    first = load_keys(keys_dir, "broker-1", NAMES)
    assert ensure_keys(keys_dir, [*NAMES, "broker-2"]) == ["broker-2"]  # a new member only
    again = load_keys(keys_dir, "broker-1", [*NAMES, "broker-2"])
    assert (again.public, again.secret) == (first.public, first.secret)
    assert again.members["launcher"] == first.members["launcher"]
    assert len({k for k in again.members.values()}) == 4  # one keypair per member
    assert again.secret.decode() not in repr(again)


def test_a_lost_public_file_is_rewritten_from_its_secret(tmp_path):
    ensure_keys(tmp_path / "keys", NAMES)
    before = load_keys(tmp_path / "keys", "launcher", NAMES).members["broker-1"]
    public_path(tmp_path / "keys", "broker-1").unlink()
    assert ensure_keys(tmp_path / "keys", NAMES) == []
    assert load_keys(tmp_path / "keys", "launcher", NAMES).members["broker-1"] == before


def test_the_umask_never_widens_what_is_written(tmp_path):
    old = os.umask(0)
    try:
        ensure_keys(tmp_path / "keys", NAMES)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE(secret_path(tmp_path / "keys", "broker-1").stat().st_mode) == 0o600


@pytest.mark.parametrize("expose, problem", [
    (lambda d: d.chmod(0o755), "keys is open to other users (mode 755)"),
    (lambda d: secret_path(d, "broker-1").chmod(0o640),
     "broker-1.key_secret is open to other users (mode 640)"),
])
def test_keys_other_users_can_read_are_refused_naming_the_file_and_the_fix(tmp_path, expose,
                                                                           problem):
    keys_dir = tmp_path / "keys"
    ensure_keys(keys_dir, NAMES)
    expose(keys_dir)
    with pytest.raises(KeysError, match=re.escape(problem)) as info:
        load_keys(keys_dir, "broker-1", NAMES)
    assert "chmod" in str(info.value)
    with pytest.raises(KeysError, match="open to other users"):
        ensure_keys(keys_dir, NAMES)


def test_missing_keys_name_what_makes_them(tmp_path):
    with pytest.raises(KeysError, match="the launcher makes them"):
        load_keys(tmp_path / "nowhere", "broker-1", NAMES)
    ensure_keys(tmp_path / "keys", NAMES)
    with pytest.raises(KeysError, match="broker-9.key is missing"):
        load_keys(tmp_path / "keys", "broker-1", [*NAMES, "broker-9"])
    secret_path(tmp_path / "keys", "broker-1").write_text("curve\n")
    with pytest.raises(KeysError, match="No public key found"):
        load_keys(tmp_path / "keys", "broker-1", NAMES)
