"""Benchmarks (`mini-kafka perf ...`). Figures are medians over repeats, with a baseline
measured in the same run, because this machine is shared and noisy."""
