"""The web console in a real headless browser (Debian's chromium, driven by Playwright)
against a real cluster: one cluster, one console and one page for the whole module, so the
steps build on each other as a user's session would. Each step also takes the screenshot
the README shows (refreshed with UPDATE_CONSOLE_SCREENSHOTS=1)."""

from __future__ import annotations

import json

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer
from tests.helpers import wait_until
from tests.integration.console_fixtures import chromium_page, cluster_with_console, screenshot

LIVE_S = 15  # "within seconds": every wait below is bounded by this (restart: twice)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with cluster_with_console(tmp_path_factory.mktemp("console-cluster")) as (cluster, console):
        with Admin(cluster.bootstrap) as admin:
            admin.create_topics([NewTopic("orders", 3, 3)])
        with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
            page.set_default_timeout(LIVE_S * 1000)
            page.goto(f"{console.url}/?token={console.token}#cluster")
            page.evaluate("window.__loadedOnce = true")  # gone if the page ever reloads
            yield cluster, console, page, tmp_path_factory.mktemp("screenshots")


def show(page, view: str) -> None:
    page.click(f"nav a[data-view={view}]")
    page.wait_for_selector(f"#view-{view}.active")


def isr_of(page, topic: str) -> dict[str, str]:
    return page.eval_on_selector_all(
        f".topic[data-topic='{topic}'] tr[data-partition]",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.partition, r.dataset.isr]))")


def test_the_page_lists_all_six_nodes_live(env):
    cluster, console, page, shots = env
    page.wait_for_function("document.querySelectorAll('#nodes tr[data-state=up]').length == 6")
    names = page.eval_on_selector_all("#nodes tr[data-node]", "rs => rs.map(r => r.dataset.node)")
    assert names == [s.name for s in cluster.config.nodes]
    assert page.text_content("#live") == "live"
    page.wait_for_function("document.querySelector('#card-controller .v').textContent"
                           ".startsWith('coordinator-')")
    screenshot(page, "cluster", shots)


def test_a_produced_message_is_found_in_the_browser(env):
    cluster, console, page, shots = env
    value = {"order": 4711, "items": ["tea", "scones"], "note": "found in the browser"}
    with Producer(cluster.bootstrap) as producer:
        for i in range(5):
            producer.send("orders", json.dumps({"order": i}).encode(), key=b"warmup",
                          partition=1)
        producer.send("orders", json.dumps(value).encode(), key=b"customer-42",
                      headers=[("source", b"browser-test")], partition=1).get(timeout=10)
    show(page, "messages")
    page.wait_for_selector("#browse-topic option[value=orders]", state="attached")
    page.select_option("#browse-topic", "orders")
    page.select_option("#browse-partition", "1")
    page.select_option("#browse-from", "offset")
    page.fill("#browse-offset", "0")
    page.click("#browse-go")
    row = page.wait_for_selector("#records tr[data-offset='5']")
    assert "found in the browser" in row.text_content()
    assert "customer-42" in row.text_content() and "browser-test" in row.text_content()
    page.select_option("#browse-mode", "json")
    pretty = page.text_content("#records tr[data-offset='5'] .record-value pre")
    assert json.loads(pretty) == value and '\n  "order": 4711' in pretty
    screenshot(page, "messages", shots)
    page.select_option("#browse-mode", "hex")
    hex_text = page.text_content("#records tr[data-offset='5'] .record-value pre")
    assert hex_text.startswith(json.dumps(value).encode()[:16].hex(" "))
    page.select_option("#browse-mode", "text")


def test_a_consumer_groups_lag_appears_and_drains(env):
    cluster, console, page, shots = env
    show(page, "groups")
    with Consumer(bootstrap_servers=cluster.bootstrap, group_id="billing",
                  auto_offset_reset="earliest", enable_auto_commit=False) as consumer:
        consumer.subscribe(["orders"])
        wait_until(lambda: consumer.poll(200) is not None and len(consumer.assignment()) == 3,
                   LIVE_S, what="billing assigned all of orders")
        drain(consumer, lambda: _caught_up(consumer))
        consumer.commit()
        with Producer(cluster.bootstrap) as producer:
            for i in range(300):
                producer.send("orders", f"invoice {i}".encode(), key=str(i).encode())
        lag = "document.querySelector(\"[data-group=billing] .total-lag\")"
        page.wait_for_function(f"{lag} && {lag}.textContent === '300'")
        drain(consumer, lambda: _caught_up(consumer))
        consumer.commit()
        page.wait_for_function(f"{lag}.textContent === '0'")
    curve = page.evaluate("state.groups.groups.find(g => g.group_id === 'billing').lag_history")
    assert max(v for _, v in curve) == 300 and curve[-1][1] == 0
    screenshot(page, "groups", shots)


def _caught_up(consumer) -> bool:
    ends = consumer.end_offsets(consumer.assignment())
    return all(consumer.position(tp) >= end for tp, end in ends.items())


def drain(consumer, done) -> None:
    def step():
        consumer.poll(200)
        return done()
    wait_until(step, LIVE_S, what="the consumer caught up")


def test_killing_a_broker_from_the_page_shows_it_dead_and_the_isr_shrink(env):
    cluster, console, page, shots = env
    victim = "broker-3"
    show(page, "chaos")
    page.click(f"#chaos-nodes button[data-op=kill][data-node={victim}]")
    page.wait_for_selector(f"#chaos-nodes tr[data-node={victim}][data-state=dead]")
    page.wait_for_selector(f"#faults li[data-fault-node={victim}][data-kind=dead]")
    screenshot(page, "chaos", shots)
    show(page, "topics")
    page.wait_for_function(
        "[...document.querySelectorAll(\".topic[data-topic=orders] tr[data-partition]\")]"
        ".every(r => !r.dataset.isr.split(',').includes('3'))")
    assert all("3" not in isr.split(",") for isr in isr_of(page, "orders").values())
    assert page.get_attribute(".topic[data-topic=orders] tr[data-partition='orders/0']",
                              "class") == "under-replicated"
    screenshot(page, "topics", shots)
    show(page, "cluster")
    page.wait_for_selector(f"#nodes tr[data-node={victim}][data-state=dead]")
    assert page.evaluate("window.__loadedOnce") is True  # live, never reloaded


def test_restarting_it_from_the_page_makes_the_isr_whole_again(env):
    cluster, console, page, shots = env
    show(page, "chaos")
    page.click("#chaos-nodes button[data-op=restart][data-node=broker-3]")
    page.wait_for_selector("#chaos-nodes tr[data-node=broker-3][data-state=up]",
                           timeout=2 * LIVE_S * 1000)
    show(page, "topics")
    page.wait_for_function(
        "[...document.querySelectorAll(\".topic[data-topic=orders] tr[data-partition]\")]"
        ".every(r => r.dataset.isr.split(',').length === 3)", timeout=2 * LIVE_S * 1000)
    assert page.text_content("#under-replicated-count").startswith("0 ")
    show(page, "timeline")
    # The restart is recorded once the launcher has seen the broker ready, which can be
    # after its ISRs are whole: wait for the page to show it rather than read it once.
    page.wait_for_function(
        "document.querySelector('#events').textContent.includes('chaos: broker-3 restarted')",
        timeout=2 * LIVE_S * 1000)
    kinds = page.eval_on_selector_all("#events li[data-kind]", "ls => ls.map(l => l.dataset.kind)")
    assert {"chaos", "isr_shrink", "isr_expand", "fencing", "node"} <= set(kinds)
    texts = page.text_content("#events")
    assert "chaos: broker-3 killed (SIGKILL)" in texts and "by console" in texts
    assert "chaos: broker-3 restarted" in texts
    screenshot(page, "timeline", shots)
    assert page.evaluate("window.__loadedOnce") is True
