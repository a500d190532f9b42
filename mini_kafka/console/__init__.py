"""`mini-kafka console`: a live web view of the running cluster, with chaos at hand.

A thin shell (server.py, collect.py, browse.py, ops.py) over the launcher's and the
clients' existing reads and fault hooks, around a pure core fed by snapshots
(snapshot.py -> timeline.py, series.py, views.py, gathered in state.py). The page in
static/ is plain HTML, CSS and JavaScript served from the package: no build step, no
network beyond this host.
"""
