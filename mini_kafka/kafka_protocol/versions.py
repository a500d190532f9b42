"""ApiVersions: what this broker speaks, advertised from the adapters' registry."""

from __future__ import annotations

from mini_kafka.kafka_protocol.api import ADAPTERS, Context, adapter
from mini_kafka.kafka_protocol.codec import API_VERSIONS_KEY, response_class
from mini_kafka.kafka_protocol.entities import build

API_VERSIONS_MAX = 4


def _ranges() -> list[dict]:
    return [{"api_key": key, "min_version": a.min_version, "max_version": a.max_version}
            for key, a in sorted(ADAPTERS.items())]


@adapter(API_VERSIONS_KEY, 0, API_VERSIONS_MAX)
async def api_versions(ctx: Context, request):
    return ctx.respond({"error_code": "NONE", "api_keys": _ranges(), "throttle_time_ms": 0})


def unsupported_version_response():
    """KIP-511: to an ApiVersions request of a version we do not know, answer in v0 with
    UNSUPPORTED_VERSION and our ranges; the client retries with one we listed."""
    return build(response_class(API_VERSIONS_KEY, 0),
                 {"error_code": "UNSUPPORTED_VERSION", "api_keys": _ranges()})
