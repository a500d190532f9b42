"""python -m mini_kafka.broker --id N --config cluster.yaml"""

import sys

from mini_kafka.lean import keep_unused_modules_out

# Before anything imports kio (hypothesis: 0.7 s of start-up and 9 MiB of RSS in every
# broker) or asyncio (ssl): see mini_kafka/lean.py.
keep_unused_modules_out()

from mini_kafka.broker.server import make_role  # noqa: E402 (after the opt-out above)
from mini_kafka.node import main  # noqa: E402

sys.exit(main("broker", make_role))
