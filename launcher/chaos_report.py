"""The end-of-run report: short and readable for people, `--json` for machines."""

from __future__ import annotations

import statistics
from typing import Any

from launcher.checker import Verdict

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top == 0:
        return SPARKS[0] * len(values)
    return "".join(" " if v == 0 else SPARKS[min(len(SPARKS) - 1, v * len(SPARKS) // (top + 1))]
                   for v in values)


def partition_names(partitions: list[dict]) -> str:
    """`chaos-idle-0,3 __consumer_offsets-1,2`: every partition, by topic, compactly."""
    by_topic: dict[str, list[int]] = {}
    for p in partitions:
        by_topic.setdefault(p["topic"], []).append(p["partition"])
    return " ".join(f"{t}-{','.join(map(str, sorted(ps)))}" for t, ps in sorted(by_topic.items()))


def recovery_summary(faults: list[dict]) -> dict[str, Any]:
    times = [f["recovery_s"] for f in faults if f["recovery_s"] is not None]
    return {"n": len(times), "median_s": statistics.median(times) if times else None,
            "max_s": max(times) if times else None,
            "unrecovered": sum(1 for f in faults if f["recovery_s"] is None)}


def to_json(verdict: Verdict, seed: int, history_path: str | None,
            events: list[dict]) -> dict[str, Any]:
    return {
        "seed": seed,
        "valid": verdict.valid,
        "anomalies": [a.__dict__ for a in verdict.anomalies],
        "figures": verdict.figures,
        "recovery": recovery_summary(verdict.figures["faults"]),
        "skipped_faults": [e for e in events if e["type"] == "fault"
                           and e["phase"] in ("skipped", "failed")],
        "final_isr": [e for e in events if e["type"] == "final_isr"],
        "history": history_path,
    }


def render(verdict: Verdict, seed: int, settings: dict[str, Any], history_path: str | None,
           events: list[dict]) -> str:
    f = verdict.figures
    lines = [f"chaos run, seed {seed}: {settings.get('duration_s')} s of "
             f"{','.join(settings.get('faults', []))}; topic of {settings.get('partitions')} "
             f"partitions, RF={settings.get('replication_factor')}, "
             f"min.insync.replicas={settings.get('min_insync_replicas')}, "
             f"acks={settings.get('acks')}"
             + (", through the Kafka listeners (librdkafka)"
                if settings.get("client") == "kafka" else "")
             + (", unclean leader election ON" if settings.get("unclean_leader_election")
                else "")]
    lines.append(f"faults injected: {len(f['faults'])}")
    for fault in f["faults"]:
        healed = "" if fault["healed_at"] is None else \
            f", healed at {fault['healed_at']:.1f} s"
        recovered = "no acknowledged write after it" if fault["recovery_s"] is None else \
            f"writes recovered in {fault['recovery_s'] * 1000:.0f} ms"
        lines.append(f"  #{fault['id']:<3} {fault['at']:6.1f} s  {fault['kind']:<16} "
                     f"{fault['target']:<14} {recovered}{healed}")
    for e in events:
        if e["type"] == "fault" and e["phase"] in ("skipped", "failed"):
            lines.append(f"  #{e['id']:<3} {e['t']:6.1f} s  {e['kind']:<16} {e['target']:<14} "
                         f"{e['phase']}: {e.get('reason') or e.get('error')}")
    r = recovery_summary(f["faults"])
    if r["n"]:
        lines.append(f"recovery (fault -> next acknowledged write on its partitions): "
                     f"median {r['median_s'] * 1000:.0f} ms, max {r['max_s'] * 1000:.0f} ms "
                     f"(n={r['n']})")
    decided = f["acknowledged"] + f["failed"]
    availability = f["acknowledged"] / decided if decided else 0.0
    lines.append(f"writes: {f['sent']} sent, {f['acknowledged']} acknowledged, "
                 f"{f['failed']} failed, {f['indeterminate']} indeterminate "
                 f"({availability:.1%} of decided writes acknowledged)")
    lines.append(f"reads: {f['polled']} polled by the group ({f['commits']} commits), "
                 f"{f['read_after_healing']} read back after healing")
    lines.append(f"acks per second: {sparkline(f['acks_per_second'])}")
    for isr in f.get("final_isr", []):
        whole = isr["partitions"] - isr["not_whole"]
        lines.append(f"in sync after healing: {whole} of {isr['partitions']} partitions "
                     "(every topic, idle and internal ones included) with every replica "
                     "in the ISR")
    for e in events:
        if e["type"] == "final_isr" and e["not_whole"]:
            lines.append(f"  not whole: {partition_names(e['not_whole'])}")
    if verdict.valid:
        lines.append("anomalies: none")
        whole = "; every ISR whole at the end" if f.get("final_isr") else ""
        lines.append(f"verdict: VALID (nothing acknowledged lost, duplicated or reordered"
                     f"{whole})")
    else:
        lines.append("anomalies:")
        for a in verdict.anomalies:
            lines.append(f"  {a.name}: {a.count} ({a.explanation})")
            for example in a.examples:
                lines.append(f"      e.g. {example}")
        lines.append("verdict: INVALID")
    if history_path:
        lines.append(f"history: {history_path}")
    return "\n".join(lines)
