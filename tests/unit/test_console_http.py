"""The console's HTTP shell in-process, with no cluster running: what reads are open,
what changing the cluster needs (token, our own Origin, our own Host), and that every bad
request gets a 4xx with a message, never a stack trace."""

import asyncio

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from mini_kafka.config import load_config
from mini_kafka.console.collect import ClusterReader
from mini_kafka.console.security import TOKEN_HEADER
from mini_kafka.console.server import ConsoleServer

TOKEN = "s3cret-token"


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"cluster": {"data_dir": str(tmp_path / "data")},
                                    "console": {"port": 0, "refresh_interval_ms": 100}}))
    return path


def run(config_path, scenario):
    async def go():
        server = ConsoleServer(ClusterReader(config_path), load_config(config_path).console,
                               TOKEN)
        test_server = TestServer(server.app(), host="127.0.0.1")
        async with TestClient(test_server) as client:
            server.bound_to(test_server.port)
            origin = f"http://127.0.0.1:{test_server.port}"
            return await scenario(client, server, origin)
    return asyncio.run(go())


async def body(resp):
    text = await resp.text()
    assert "Traceback" not in text and 'File "' not in text
    return await resp.json() if resp.content_type == "application/json" else text


def test_reads_are_open_and_say_no_cluster_is_running(config_path):
    async def scenario(client, server, origin):
        page = await client.get("/")
        assert page.status == 200 and "mini-kafka" in await page.text()
        assert (await client.get("/static/console.js")).status == 200
        for _ in range(50):
            state = await body(await client.get("/api/state"))
            if state["version"]:
                break
            await asyncio.sleep(0.05)
        assert state["running"] is False
        assert "no cluster is running" in state["errors"]["cluster"]
        assert set(state) >= {"cluster", "topics", "groups", "timeline", "faults"}
        missing = await client.get("/api/nope")
        assert missing.status == 404 and (await body(missing))["error"] == "Not Found"
    run(config_path, scenario)


def test_changing_the_cluster_needs_the_token_and_our_own_origin(config_path):
    async def scenario(client, server, origin):
        async def kill(headers):
            resp = await client.post("/api/chaos/kill", json={"node": "broker-1"},
                                     headers=headers)
            return resp.status, (await body(resp))["error"]

        status, error = await kill({})
        assert status == 403 and TOKEN_HEADER in error
        assert await kill({TOKEN_HEADER: "guess"}) == (403, "wrong console token")
        status, error = await kill({TOKEN_HEADER: TOKEN, "Origin": "http://evil.example"})
        assert status == 403 and "cross-origin request refused" in error
        status, error = await kill({TOKEN_HEADER: TOKEN, "Sec-Fetch-Site": "cross-site"})
        assert status == 403 and "cross-site" in error
        # Past the checks, with nothing to kill: the cluster's answer, not a crash.
        assert await kill({TOKEN_HEADER: TOKEN, "Origin": origin}) == (
            409, "no cluster is running")
        preflight = await client.options("/api/chaos/kill", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status == 403
        assert "Access-Control-Allow-Origin" not in preflight.headers
    run(config_path, scenario)


def test_a_foreign_host_header_is_refused_even_for_reads(config_path):
    async def scenario(client, server, origin):
        resp = await client.get("/api/state", headers={"Host": "rebound.example:80"})
        assert resp.status == 403 and "is not this console" in (await body(resp))["error"]
        resp = await client.get("/api/state", headers={"Host": origin[len("http://"):]
                                                       .replace("127.0.0.1", "localhost")})
        assert resp.status == 200
    run(config_path, scenario)


@pytest.mark.parametrize("query, expected", [
    ("topic=t", "partition is required"),
    ("partition=0", "give ?topic=NAME&partition=N"),
    ("topic=t&partition=x", "partition='x': must be an integer"),
    ("topic=t&partition=0&offset=-1", "offset=-1: must not be negative"),
    ("topic=t&partition=0&limit=100000", "limit=100000: must be between 0 and 500"),
    ("topic=t&partition=0&offset=1&timestamp_ms=5", "give offset or timestamp_ms, not both"),
    ("topic=t&partition=0", "no cluster is running"),
])
def test_bad_browse_requests_get_400_with_a_message(config_path, query, expected):
    async def scenario(client, server, origin):
        resp = await client.get(f"/api/messages?{query}")
        assert resp.status == 400
        assert expected in (await body(resp))["error"]
    run(config_path, scenario)


@pytest.mark.parametrize("path, data, expected", [
    ("/api/chaos/kill", b"{not json", "the body must be JSON"),
    ("/api/chaos/kill", b"[1]", "the body must be a JSON object"),
    ("/api/chaos/kill", b'{"node": 7}', "the body must be a JSON object"),
])
def test_bad_chaos_bodies_get_400(config_path, path, data, expected):
    async def scenario(client, server, origin):
        resp = await client.post(path, data=data, headers={
            TOKEN_HEADER: TOKEN, "Origin": origin, "Content-Type": "application/json"})
        assert resp.status == 400 and expected in (await body(resp))["error"]
    run(config_path, scenario)


def test_an_unexpected_failure_is_a_500_without_a_stack_trace(config_path):
    async def scenario(client, server, origin):
        def broken():
            raise RuntimeError("boom")
        server.state.topics = broken  # /api/state gathers every view, this one included
        resp = await client.get("/api/state")
        assert resp.status == 500
        assert (await body(resp))["error"] == ("internal error (RuntimeError); the console's "
                                               "log has the details")
    run(config_path, scenario)


def test_a_busy_console_port_is_named_with_what_to_do(config_path):
    import socket

    from mini_kafka.cli import web
    from mini_kafka.cli.common import CliError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CliError, match=f"console port {port} on 127.0.0.1 is in use: set "
                                           "console.port in the config or pass another port"):
            web.start(config_path, port=port)
