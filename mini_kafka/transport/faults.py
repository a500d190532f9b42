"""Fault injection rules: the seam chaos testing drives.

Every message a node sends or receives passes `FaultRules.decide(direction, peer)`. Rules
are set at runtime (the SET_FAULTS request) and name peers by node name ("broker-2"), so
a network partition is a pair of "drop" rules on either side of the cut. Randomness is
injected, so a seeded run decides the same way every time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mini_kafka.protocol import ApiKey

DIRECTIONS = ("in", "out", "both")
ANY_PEER = "*"
# Node administration is the control path the chaos tools heal through: no rule applies
# to it, either way, or `loss --rate 1` would cut its node off from the `heal` that
# clears it. Exempt only when the launcher asks, on the authenticated endpoint
# (mini_kafka.node), where the sender is proven.
CONTROL_APIS = frozenset({ApiKey.STATUS, ApiKey.SET_FAULTS})


@dataclass(frozen=True)
class FaultRule:
    peer: str = ANY_PEER        # node name, or "*" for every peer
    direction: str = "both"     # "in" (received from peer), "out" (sent to peer), "both"
    drop_rate: float = 0.0      # probability a matching message is dropped; 1.0 = cut
    delay_ms: int = 0
    jitter_ms: int = 0

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r}: must be one of {DIRECTIONS}")
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ValueError(f"drop_rate {self.drop_rate}: must be between 0 and 1")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must not be negative")

    def matches(self, direction: str, peer: str) -> bool:
        return (self.peer in (ANY_PEER, peer)) and self.direction in ("both", direction)


@dataclass(frozen=True)
class Decision:
    drop: bool = False
    delay_ms: int = 0


PASS = Decision()


def _drops(rules: tuple[FaultRule, ...], peer: str) -> bool:
    return any(r.drop_rate and r.peer in (ANY_PEER, peer) for r in rules)


class FaultRules:
    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()
        self._rules: tuple[FaultRule, ...] = ()
        self._on_lifted: list[Callable[[Callable[[str], bool]], None]] = []

    @property
    def active(self) -> bool:
        return bool(self._rules)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    def set(self, rules: list[FaultRule]) -> None:
        was, now = self._rules, tuple(rules)
        self._rules = now
        if any(r.drop_rate for r in was):
            for listener in list(self._on_lifted):
                listener(lambda peer: _drops(was, peer) and not _drops(now, peer))

    def clear(self) -> None:
        self.set([])

    def on_lifted(self, listener: Callable[[Callable[[str], bool]], None]) -> None:
        """Call `listener(lifted)` when rules that dropped messages change; `lifted(peer)`
        says whether messages to or from `peer` were dropped and no longer are. A
        request that was pending through the cut may have been lost to it, and nothing
        would answer it before its timeout (a follower's fetch: 10 s and more)."""
        self._on_lifted.append(listener)

    def forget(self, listener: Callable[[Callable[[str], bool]], None]) -> None:
        if listener in self._on_lifted:
            self._on_lifted.remove(listener)

    def decide(self, direction: str, peer: str) -> Decision:
        if not self._rules:  # the common case costs one truth test
            return PASS
        delay_ms = 0
        for rule in self._rules:
            if not rule.matches(direction, peer):
                continue
            if rule.drop_rate and self._rng.random() < rule.drop_rate:
                return Decision(drop=True)
            jitter = self._rng.randint(0, rule.jitter_ms) if rule.jitter_ms else 0
            delay_ms += rule.delay_ms + jitter
        return Decision(delay_ms=delay_ms) if delay_ms else PASS

    def to_wire(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self._rules]

    @staticmethod
    def rules_from_wire(items: Any) -> list[FaultRule]:
        """Parse rules sent by a peer; raises ValueError naming what is wrong."""
        if not isinstance(items, list):
            raise ValueError("rules must be a list")
        rules = []
        for item in items:
            if not isinstance(item, dict):
                raise ValueError(f"rule {item!r} must be an object")
            unknown = set(item) - set(FaultRule.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
            rules.append(FaultRule(**item))
        return rules
