"""`mini-kafka perf ...`: benchmarks."""

from __future__ import annotations

import argparse
import os
import sys

from mini_kafka.cli.common import CliError, add_bootstrap, bootstrap, client_kwargs, parse_pairs

PERF_CLIENTS = ("mini-kafka", "confluent-kafka")
ALL_BENCH_CLIENTS = ("mini-kafka", "mini-kafka-send-many", "confluent-kafka", "kcat")


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("perf", help="benchmarks")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    storage = cmds.add_parser("storage", help="record codec and partition log throughput")
    storage.add_argument("--num-records", type=int, default=200_000)
    storage.add_argument("--record-size", type=int, default=100, help="value bytes")
    storage.add_argument("--batch-records", type=int, default=160)
    storage.add_argument("--repeats", type=int, default=5)
    storage.set_defaults(func=cmd_storage)
    failover = cmds.add_parser("failover", help="controller and partition-leader failover "
                                                "times on a fresh local cluster")
    failover.add_argument("--kills", type=int, default=10, help="controller kills")
    failover.add_argument("--broker-kills", type=int, default=5, help="leader broker kills")
    failover.set_defaults(func=cmd_failover)

    scale = cmds.add_parser("scale", help="a large fresh local cluster against the scale "
                                          "targets: start-up, idle cost, a many-partition "
                                          "topic, mass SIGKILL and return, shutdown")
    scale.add_argument("--coordinators", type=int, default=5)
    scale.add_argument("--brokers", type=int, default=100)
    scale.add_argument("--partitions", type=int, default=1000,
                       help="of the one topic created, RF=3")
    scale.add_argument("--kill", type=int, default=10,
                       help="brokers to SIGKILL at once, then restart (0: none)")
    scale.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                       help="wait before each idle CPU window")
    scale.add_argument("--idle-window", type=float, default=10.0, metavar="SECONDS",
                       help="how long idle CPU is measured")
    scale.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                       help="each measurement's deadline")
    scale.add_argument("--keep-dir", metavar="DIR",
                       help="run the cluster in DIR (new or empty) and keep its data and "
                            "node logs afterwards (default: a temporary directory)")
    scale.set_defaults(func=cmd_scale)

    produce = cmds.add_parser("produce", help="Kafka's producer perf test")
    produce.add_argument("--topic", required=True)
    produce.add_argument("--num-records", type=int, required=True)
    produce.add_argument("--record-size", type=int, required=True, help="value bytes")
    produce.add_argument("--throughput", type=float, default=-1,
                         help="records/s at most (-1: unthrottled)")
    produce.add_argument("--acks", default="all", choices=["all", "-1", "0", "1"])
    produce.add_argument("--producer-prop", action="append", metavar="KEY=VALUE")
    produce.add_argument("--records-per-send", type=int, default=1, metavar="N",
                         help="mini-kafka's client: N records per send_many() call "
                              "(default 1: one send() per record, as Kafka's tool)")
    produce.add_argument("--client", choices=PERF_CLIENTS, default="mini-kafka",
                         help="mini-kafka's own client (ZeroMQ), or confluent-kafka "
                              "(librdkafka) over the Kafka listener")
    produce.set_defaults(func=cmd_produce)
    add_bootstrap(produce)

    consume = cmds.add_parser("consume", help="Kafka's consumer perf test")
    consume.add_argument("--topic", required=True)
    consume.add_argument("--messages", type=int, required=True)
    consume.add_argument("--timeout-ms", type=int, default=60_000)
    consume.add_argument("--group", help="consume as a member of this group (committing)")
    consume.add_argument("--client", choices=PERF_CLIENTS, default="mini-kafka")
    consume.set_defaults(func=cmd_consume)
    add_bootstrap(consume)

    e2e = cmds.add_parser("e2e", help="end-to-end latency, producer send -> consumer receive")
    e2e.add_argument("--topic", required=True)
    e2e.add_argument("--throughput", type=float, required=True, help="records/s")
    e2e.add_argument("--duration", default="10s", help="e.g. 10s")
    e2e.add_argument("--record-size", type=int, default=100)
    e2e.add_argument("--acks", default="1", choices=["all", "-1", "0", "1"])
    e2e.add_argument("--client", choices=PERF_CLIENTS, default="mini-kafka")
    e2e.set_defaults(func=cmd_e2e)
    add_bootstrap(e2e)

    ceil = cmds.add_parser("ceiling", help="raw ZeroMQ between two processes: the "
                                           "transport's ceiling on this machine")
    ceil.add_argument("--record-size", type=int, default=100)
    ceil.add_argument("--batch-bytes", type=int, default=16384)
    ceil.add_argument("--repeats", type=int, default=3)
    ceil.set_defaults(func=cmd_ceiling)

    bench = cmds.add_parser("bench", help="every scenario on a fresh cluster: one table "
                                          "with the ceiling and Kafka's figures")
    bench.add_argument("--config", metavar="FILE",
                       help="the cluster.yaml to copy (default: $MINI_KAFKA_CLUSTER, else the "
                            "nearest cluster.yaml); it runs on free ports in a temporary "
                            "directory")
    bench.add_argument("--num-records", type=int, default=200_000)
    bench.add_argument("--markdown", action="store_true", help="only the table, for README")
    bench.add_argument("--clients", default=",".join(ALL_BENCH_CLIENTS),
                       help="which clients run each scenario (comma-separated: "
                            f"{', '.join(ALL_BENCH_CLIENTS)})")
    bench.set_defaults(func=cmd_bench)


def cmd_produce(args) -> int:
    from mini_kafka.client import Producer
    from mini_kafka.perf import clients

    if args.num_records < 1 or args.record_size < 0:
        raise CliError("--num-records must be at least 1 and --record-size not negative")
    if args.records_per_send < 1:
        raise CliError("--records-per-send must be at least 1")
    if args.client == "confluent-kafka":
        if args.records_per_send != 1:
            raise CliError("--records-per-send is mini-kafka's client's (send_many); "
                           "librdkafka sends one record per produce() call")
        from mini_kafka.perf import kafka_clients

        # librdkafka's own property names, as its users write them
        config = parse_pairs(args.producer_prop, "--producer-prop")
        result = kafka_clients.produce(bootstrap(args, kafka=True), args.topic,
                                       args.num_records, args.record_size, acks=args.acks,
                                       throughput=args.throughput, **config)
    else:
        config = client_kwargs(parse_pairs(args.producer_prop, "--producer-prop"), Producer,
                               "producer property")
        config.setdefault("acks", args.acks)
        result = clients.produce(bootstrap(args), args.topic, args.num_records,
                                 args.record_size, args.throughput,
                                 records_per_send=args.records_per_send, **config)
    print(result.kafka_line())
    if result.errors:
        print(f"error: {result.errors} record(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_consume(args) -> int:
    from mini_kafka.perf import clients

    if args.messages < 1:
        raise CliError("--messages must be at least 1")
    if args.client == "confluent-kafka":
        from mini_kafka.perf import kafka_clients

        if args.group:
            raise CliError("--group is for --client mini-kafka")
        result = kafka_clients.consume(bootstrap(args, kafka=True), args.topic, args.messages,
                                       args.timeout_ms / 1000)
    else:
        result = clients.consume(bootstrap(args), args.topic, args.messages,
                                 args.timeout_ms / 1000, group_id=args.group)
    print(result.kafka_lines())
    if result.records < args.messages:
        print(f"error: only {result.records} of {args.messages} messages within "
              f"{args.timeout_ms} ms", file=sys.stderr)
        return 1
    return 0


def cmd_failover(args) -> int:
    from mini_kafka.perf import failover

    if args.kills < 0 or args.broker_kills < 0:
        raise SystemExit("error: --kills and --broker-kills must not be negative")
    print(failover.run(args.kills, args.broker_kills).format())
    return 0


def cmd_scale(args) -> int:
    from launcher import ClusterError
    from mini_kafka.perf import bench, scale
    from mini_kafka.perf.scale_figures import ScaleError, ScaleSettings

    settings = ScaleSettings(args.coordinators, args.brokers, args.partitions, args.kill,
                             args.settle, args.idle_window, args.timeout, args.keep_dir)
    try:
        settings.check()
        report = scale.run(settings)
    except (ScaleError, ClusterError) as e:
        raise CliError(str(e)) from None
    print(f"{bench.machine()}; {settings.coordinators} coordinators + {settings.brokers} "
          f"brokers, {settings.partitions} partitions, {settings.kill} killed")
    print(report.format())
    return 1 if report.failed else 0


def cmd_storage(args) -> int:
    from mini_kafka.perf import storage

    for name in ("num_records", "record_size", "batch_records", "repeats"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1")
    figures = storage.run(args.num_records, args.record_size, args.batch_records, args.repeats)
    print(f"{args.num_records} records of {args.record_size} bytes in batches of "
          f"{args.batch_records}; medians of {args.repeats} runs")
    print(storage.format_figures(figures))
    return 0


def _free_endpoint() -> str:
    from launcher.ports import free_ports

    return f"tcp://127.0.0.1:{free_ports('127.0.0.1', 1)[0]}"


def cmd_e2e(args) -> int:
    from mini_kafka.cli.common import parse_duration_s
    from mini_kafka.perf import e2e

    if args.throughput <= 0:
        raise CliError("--throughput must be positive")
    if args.client == "confluent-kafka":
        from mini_kafka.perf import kafka_clients

        result = kafka_clients.e2e(bootstrap(args, kafka=True), args.topic, args.throughput,
                                   parse_duration_s(args.duration), args.record_size,
                                   acks=args.acks)
    else:
        result = e2e.run(bootstrap(args), args.topic, args.throughput,
                         parse_duration_s(args.duration), args.record_size, acks=args.acks)
    print(result.lines())
    return 0 if result.received == result.sent else 1


def cmd_ceiling(args) -> int:
    from mini_kafka.perf import ceiling

    if args.record_size < 1 or args.batch_bytes < args.record_size or args.repeats < 1:
        raise CliError("--record-size at least 1, --batch-bytes at least the record size, "
                       "--repeats at least 1")
    print(ceiling.median_of(_free_endpoint, args.record_size, args.batch_bytes,
                            args.repeats).line())
    return 0


def cmd_bench(args) -> int:
    import tempfile
    from pathlib import Path

    from launcher import Cluster, discovery
    from mini_kafka.config import load_config
    from mini_kafka.perf import bench

    if args.num_records < 3:
        raise CliError("--num-records must be at least 3")
    base = load_config(discovery.cluster_config(args.config))
    with tempfile.TemporaryDirectory(prefix="mini-kafka-bench-") as tmp:
        def fresh_cluster():
            return Cluster.copy_on_free_ports(base, Path(tmp) / "logs").start()

        chosen = tuple(c.strip() for c in args.clients.split(",") if c.strip())
        unknown = [c for c in chosen if c not in ALL_BENCH_CLIENTS]
        if unknown or not chosen:
            raise CliError(f"--clients {args.clients!r}: choose from "
                           f"{', '.join(ALL_BENCH_CLIENTS)}")
        settings = bench.BenchSettings(records=args.num_records,
                                       large_records=max(3, args.num_records // 5),
                                       clients=chosen)
        quiet = open(os.devnull, "w") if args.markdown else sys.stdout  # noqa: SIM115
        try:
            rows = bench.run(fresh_cluster, settings, _free_endpoint, out=quiet)
        finally:
            if quiet is not sys.stdout:
                quiet.close()
    if not args.markdown:
        print()
    print(f"{bench.machine()}; {args.num_records:,} records per producer scenario")
    print(bench.format_table(rows))
    return 0
