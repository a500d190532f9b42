"""python -m mini_kafka.coordinator --id N --config cluster.yaml"""

import sys

from mini_kafka.lean import keep_unused_modules_out

keep_unused_modules_out()

from mini_kafka.coordinator.server import make_role  # noqa: E402
from mini_kafka.node import main  # noqa: E402

sys.exit(main("coordinator", make_role))
