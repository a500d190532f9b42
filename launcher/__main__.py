"""python -m launcher up|down|status|restart — the same as `mini-kafka cluster ...`."""

import sys

from mini_kafka.cli.main import main

sys.exit(main(["cluster", *sys.argv[1:]]))
