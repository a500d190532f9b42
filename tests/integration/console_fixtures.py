"""What the console's integration tests share: a cluster with a console on free ports,
and Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from launcher import Cluster
from launcher.pytest_plugin import test_cluster_config
from mini_kafka.cli import web

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "mini_kafka" / "console" / "screenshots"
UPDATE_SCREENSHOTS_ENV = "UPDATE_CONSOLE_SCREENSHOTS"


@contextmanager
def cluster_with_console(data_dir: Path):
    """A 3+3 cluster and a console reading it, both stopped at the end, even on failure."""
    cluster = Cluster(test_cluster_config(data_dir, overrides={
        "console": {"port": 0, "refresh_interval_ms": 250}}))
    cluster.start()
    console = None
    try:
        # The console finds the cluster as a user's would: by the config it was started with.
        console = web.start(cluster.data_dir / "cluster.effective.yaml")
        yield cluster, console
    finally:
        if console is not None:
            console.stop()
        cluster.stop()


def browser_missing(reason: str):
    """In CI a missing browser fails the run: the browser tests must not silently skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


@contextmanager
def chromium_page(profile_dir: Path):
    if not CHROMIUM.exists():
        browser_missing(f"Debian's chromium is not installed at {CHROMIUM}: "
                        "apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_missing("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 860})
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(page, name: str, tmp_dir: Path) -> Path:
    """Into tmp_dir; with UPDATE_CONSOLE_SCREENSHOTS=1, also the README's copy."""
    path = tmp_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get(UPDATE_SCREENSHOTS_ENV):
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
    return path
