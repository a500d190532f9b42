"""A node's supervisor: a background task that fails, or one that must run for the
node's life and ends, crashes the node loudly instead of leaving it half alive."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mini_kafka.supervisor import Supervisor


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario(), 5))


async def _boom():
    await asyncio.sleep(0)
    raise RuntimeError("disk on fire")


async def _done():
    await asyncio.sleep(0)


async def _forever():
    await asyncio.Event().wait()


def test_a_failing_task_crashes_the_node_with_its_traceback(caplog):
    async def scenario():
        sup = Supervisor("broker-9")
        sup.spawn(_boom(), "following metadata", forever=True)
        return await sup.wait_crashed()

    with caplog.at_level(logging.CRITICAL, logger="mini_kafka.node"):
        failure = run(scenario)
    assert failure == "task 'following metadata' failed: RuntimeError: disk on fire"
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "broker-9" in record.getMessage() and record.exc_info[1].args == ("disk on fire",)


def test_a_task_that_must_run_forever_and_ends_crashes_the_node():
    async def scenario():
        sup = Supervisor("coordinator-1")
        sup.spawn(_done(), "Raft ticks", forever=True)
        return await sup.wait_crashed()

    assert "ended; it must run as long as the node" in run(scenario)


def test_one_shot_tasks_may_end_and_cancelled_tasks_are_no_failure():
    async def scenario():
        sup = Supervisor("broker-1")
        done = sup.spawn(_done(), "ISR change")
        forever = sup.spawn(_forever(), "fetching", forever=True)
        await done
        forever.cancel()
        await asyncio.gather(forever, return_exceptions=True)
        await asyncio.sleep(0)
        assert sup.failure is None and not sup.tasks
        sup.spawn(_boom(), "ISR change")  # a one-shot that raises is a failure
        return await sup.wait_crashed()

    assert "ISR change" in run(scenario)


def test_a_fatal_section_crashes_and_re_raises_and_the_first_failure_is_kept(caplog):
    async def scenario():
        sup = Supervisor("broker-2")
        with pytest.raises(KeyError), sup.fatal("applying committed metadata"):
            {}["topic"]
        sup.crash("something later", ValueError("second"))
        return await sup.wait_crashed()

    with caplog.at_level(logging.ERROR, logger="mini_kafka.node"):
        assert run(scenario) == "applying committed metadata failed: KeyError: 'topic'"
    assert [r.levelname for r in caplog.records] == ["CRITICAL", "ERROR"]


def test_failures_during_a_clean_shutdown_are_logged_not_crashes(caplog):
    async def scenario():
        sup = Supervisor("broker-3")
        sup.stopping = True
        task = sup.spawn(_boom(), "a send in flight")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
        return sup.failure

    with caplog.at_level(logging.ERROR, logger="mini_kafka.node"):
        assert run(scenario) is None
    assert "while shutting down" in caplog.records[0].getMessage()
