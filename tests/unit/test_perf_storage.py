import subprocess
import sys

from mini_kafka.perf import storage


def test_storage_benchmark_measures_every_figure_against_its_baseline():
    figures = {f.name: f for f in storage.run(num_records=3200, batch_records=160, repeats=1)}
    assert set(figures) == {"encode", "decode (CRC checked)", "log append",
                            "log read (1 MiB fetches)", "log open (validating)",
                            "log read after reopen"}
    assert all(f.value > 0 for f in figures.values())
    assert figures["log append"].baseline > 0 and figures["log read (1 MiB fetches)"].baseline
    table = storage.format_figures(list(figures.values()))
    assert "plain file" in table and "ratio" in table


def test_bad_perf_arguments_are_refused_by_name():
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "storage",
                          "--repeats", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--repeats must be at least 1" in out.stderr
