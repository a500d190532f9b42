"""python -m mini_kafka.coordinator --id N --config cluster.yaml"""

import sys

from mini_kafka.coordinator.server import make_role
from mini_kafka.node import main

sys.exit(main("coordinator", make_role))
