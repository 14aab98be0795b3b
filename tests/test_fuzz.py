"""Schemathesis (GraphQL mode) against the running server: no 5xx and no unexpected error, ever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from sqlalchemy import text

from tests.conftest import ROOT, TABLES, TEST_DATABASE_URL, TEST_REDIS_URL

# Uploads cannot travel in a JSON body; null makes the server answer with a validation error or userError.
schemathesis.graphql.scalar("Upload", st.just(nodes.Null))
schemathesis.graphql.scalar("JSON", st.sampled_from(["{}", "x", ""]).map(nodes.String))
schemathesis.graphql.scalar("DateTime", st.just(nodes.String("2026-01-01T00:00:00+00:00")))

schema = schemathesis.graphql.from_path(ROOT / "schema.graphql")
EXAMPLES_PER_OPERATION = 120  # 9 root fields: just over 1,000 generated operations


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`churns-gql serve` in its own process on the test database; yields its URL and its log file."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("fuzz") / "server.log"
    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": TEST_DATABASE_URL,
        "CHURNS_REDIS_URL": TEST_REDIS_URL,
        "CHURNS_DATA_DIR": str(log_path.parent / "data"),
        "CHURNS_PORT": str(port),
        "CHURNS_PROVIDER": "local",
    }
    env.pop("OPENAI_API_KEY", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "churns_gql.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("the server did not start:\n" + log_path.read_text())
        yield url, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module", autouse=True)
async def _empty_tables_after(engine):
    yield
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_generated_operations_never_break_the_server(case, server):
    url, log_path = server
    response = case.call(base_url=f"{url}/graphql", headers={"Apollo-Require-Preflight": "true"})
    assert response.status_code < 500, response.text
    body = response.json()
    for error in body.get("errors") or []:
        assert "Traceback" not in error["message"]
        assert not error["message"].startswith("Unexpected error"), (case.body, error)


def test_at_least_a_thousand_operations_reached_the_server(server):
    _url, log_path = server
    served = log_path.read_text().count('"POST /graphql HTTP/1.1"')
    assert served >= 1000, served
    assert "unexpected error" not in log_path.read_text()
