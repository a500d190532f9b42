"""The cluster's CURVE keys: one keypair per member (every node, and the launcher for
itself and the CLI), made by the launcher at the cluster's first start, before any node
runs, and kept under <data_dir>/keys/ for every later start.

    keys/            0700
      broker-1.key          the public key   (ZeroMQ's certificate format, as zmq.auth)
      broker-1.key_secret   0600: the public and the secret key

A member proves itself with its secret key; a node admits a key only if it is a member's
and then knows which member sent each message. Anyone who can read these files can act
as the cluster, so a directory or a secret file other users can reach is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.utils.z85
from zmq.auth.certs import load_certificate

DIR_MODE = 0o700
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
_BANNER = "#   mini-kafka cluster key of {name}: {what}\n"


class KeysError(RuntimeError):
    """The cluster's keys are missing, unreadable or readable by other users."""


@dataclass(frozen=True)
class ClusterKeys:
    """What one member holds: its own keypair and every member's public key (z85)."""
    identity: str
    public: bytes
    secret: bytes = field(repr=False)  # never in a log line or a traceback
    members: dict[str, bytes] = field(repr=False)
    _by_raw_key: dict[bytes, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_raw_key", {zmq.utils.z85.decode(z85): name
                                                 for name, z85 in self.members.items()})

    def member_of(self, raw_public_key: bytes) -> str | None:
        """The member whose key this is (ZAP hands over raw 32-byte keys), or None."""
        return self._by_raw_key.get(raw_public_key)


def public_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / f"{name}.key"


def secret_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / f"{name}.key_secret"


def ensure_keys(keys_dir: Path, names: list[str]) -> list[str]:
    """Make the keys directory (0700) and a keypair for every member without one; keys
    already there are kept, so a restarted cluster is the same cluster. Returns the
    names that got new keys."""
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _check_private(keys_dir, stat.S_IFDIR)
    made = []
    for name in names:
        secret_file = secret_path(keys_dir, name)
        if secret_file.exists():
            _check_private(secret_file, stat.S_IFREG)
            public, secret = _read(secret_file, secret=True)
        else:
            public, secret = zmq.curve_keypair()
            _write(secret_file, SECRET_MODE, _text(name, "public and SECRET key", public, secret))
            made.append(name)
        if not public_path(keys_dir, name).exists():  # (a crash between the two writes)
            _write(public_path(keys_dir, name), PUBLIC_MODE, _text(name, "public key", public))
    return made


def load_keys(keys_dir: Path, identity: str, names: list[str]) -> ClusterKeys:
    """`identity`'s keypair and the public key of every member in `names`."""
    keys_dir = Path(keys_dir)
    if not keys_dir.is_dir():
        raise KeysError(f"no cluster keys at {keys_dir}: the launcher makes them when it "
                        "starts the cluster (`mini-kafka cluster up`)")
    _check_private(keys_dir, stat.S_IFDIR)
    secret_file = secret_path(keys_dir, identity)
    _check_private(secret_file, stat.S_IFREG)
    public, secret = _read(secret_file, secret=True)
    members = {name: _read(public_path(keys_dir, name), secret=False)[0] for name in names}
    return ClusterKeys(identity, public, secret, members)


def _check_private(path: Path, kind: int) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise KeysError(f"{path} is missing: the launcher makes the cluster's keys when it "
                        "starts the cluster (`mini-kafka cluster up`)") from None
    if stat.S_IFMT(st.st_mode) != kind:
        raise KeysError(f"{path} is not a plain {'directory' if kind == stat.S_IFDIR else 'file'}")
    if st.st_uid != os.getuid():
        raise KeysError(f"{path} belongs to uid {st.st_uid}, not to this user ({os.getuid()})")
    if st.st_mode & 0o077:
        want = DIR_MODE if kind == stat.S_IFDIR else SECRET_MODE
        raise KeysError(f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):o}): "
                        f"whoever reads the cluster's keys can act as the cluster. "
                        f"`chmod {want:o} {path}` if nobody else could have read it; "
                        "otherwise remove the keys directory to make new keys")


def _read(path: Path, *, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.exists():
        raise KeysError(f"{path} is missing: the launcher makes a key for every node in "
                        "the config when it starts the cluster (`mini-kafka cluster up`)")
    try:
        public, secret_key = load_certificate(path)
    except (OSError, ValueError) as e:
        raise KeysError(f"cannot read the cluster key {path}: {e}") from None
    if len(public) != 40 or (secret and (secret_key is None or len(secret_key) != 40)):
        raise KeysError(f"{path} does not hold a CURVE key{'pair' if secret else ''}")
    return public, secret_key


def _text(name: str, what: str, public: bytes, secret: bytes | None = None) -> str:
    lines = [_BANNER.format(name=name, what=what), "curve\n",
             f'    public-key = "{public.decode()}"\n']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"\n')
    return "".join(lines)


def _write(path: Path, mode: int, text: str) -> None:
    """Atomically, created with its final mode (never readable by others, even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; it never adds any
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
