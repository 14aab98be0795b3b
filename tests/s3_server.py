"""S3 on loopback for tests: moto's server mode, an S3 protocol emulation (as tests/fake_openai.py is for OpenAI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole session; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard AWS variables that point a client at the emulated S3."""
    return FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint}


def new_bucket(endpoint: str) -> str:
    """Create an empty bucket and return its name."""
    name = f"churns-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{endpoint}/{name}", timeout=10).raise_for_status()
    return name


@pytest.fixture
def s3_url(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3://bucket/prefix` of a fresh bucket, with this process's AWS variables set for it."""
    for name, value in s3_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return f"s3://{new_bucket(moto_endpoint)}/churns"
