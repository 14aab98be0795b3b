"""The soak's own client and bookkeeping: a coded error answer is tallied by its code, never as a client crash."""

from __future__ import annotations

import httpx

from tests.soak_checks import Tally, answers_ok
from tests.soak_load import Load


def _answering(body: dict) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://soak")


async def test_an_import_answered_with_an_error_is_tallied_by_its_code():
    tally = Tally()
    outage = {"data": None, "errors": [{"message": "down", "extensions": {"code": "UNAVAILABLE"}}]}
    async with _answering(outage) as http:
        await Load(http, "http://soak", tally, lambda seed: b"png").import_run()
    assert dict(tally.requests) == {"error UNAVAILABLE": 1}
    assert tally.work["imports"] == 0


async def test_an_accepted_import_keeps_its_images():
    tally = Tally()
    ok = {"data": {"importRun": {"run": {"id": "r", "images": [{"id": "a"}, {"id": "b"}]}, "userErrors": []}}}
    async with _answering(ok) as http:
        load = Load(http, "http://soak", tally, lambda seed: b"png")
        await load.import_run()
    assert load.images == ["a", "b"] and tally.work["imports"] == 1
    assert dict(tally.requests) == {"HTTP 200": 1}


def test_a_masked_error_or_a_client_crash_fails_the_answers_invariant():
    assert answers_ok({"HTTP 200": 5, "error UNAVAILABLE": 2, "unreachable (ConnectError)": 1})[0]
    assert not answers_ok({"HTTP 200": 5, "error INTERNAL": 1})[0]
    assert not answers_ok({"HTTP 200": 5, "import failed (TypeError)": 1})[0]
    assert "error INTERNAL ×3" in answers_ok({"error INTERNAL": 3})[1]
