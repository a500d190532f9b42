"""python -m mini_kafka.broker --id N --config cluster.yaml"""

import sys

from mini_kafka.broker.server import make_role
from mini_kafka.node import main

sys.exit(main("broker", make_role))
