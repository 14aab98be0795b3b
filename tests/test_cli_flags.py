"""Command-line flags: serve --host/--port, worker --concurrency, --version; the environment still works."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from churns_gql import cli, cli_args
from churns_gql.config import get_settings
from tests.conftest import ROOT
from tests.test_cli import _free_port


@pytest.fixture(autouse=True)
def fresh_settings():
    """get_settings is cached per process: each test reads the environment it set."""
    get_settings.cache_clear()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    get_settings.cache_clear()
    root.handlers[:], level = saved
    root.setLevel(level)


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"churns-gql {cli_args.version()}" and cli_args.version() == "0.1.0"


def test_serve_flags_win_over_the_environment_which_still_works(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "serve", seen.append)
    monkeypatch.setenv("CHURNS_HOST", "127.0.0.2")
    monkeypatch.setenv("CHURNS_PORT", "8123")
    cli.main(["serve"])
    cli.main(["serve", "--host", "127.0.0.3", "--port", "9001"])
    assert [(s.host, s.port) for s in seen] == [("127.0.0.2", 8123), ("127.0.0.3", 9001)]


def test_worker_concurrency_sets_max_jobs(monkeypatch):
    import churns_gql.resilient_worker as resilient

    made = []

    class FakeWorker:
        def __init__(self, **options):
            made.append(options)

        def run(self):
            return None

    monkeypatch.setattr(resilient, "ResilientWorker", FakeWorker)
    cli.main(["worker", "--concurrency", "3"])
    cli.main(["worker"])
    # Without an OpenAI key the offline provider runs: its jobs take turns on the image lane, 2 at once suffice.
    assert [options["max_jobs"] for options in made] == [3, 2]


@pytest.mark.parametrize("argv", [["worker", "--concurrency", "0"], ["serve", "--port", "x"]])
def test_bad_flag_values_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_serve_listens_where_the_flags_say(tmp_path, services):
    port = _free_port()
    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": services.settings.database_url,
        "CHURNS_REDIS_URL": services.settings.redis_url,
        "CHURNS_DATA_DIR": str(tmp_path / "data"),
        "CHURNS_PORT": "1",
        "CHURNS_WEB_DIR": str(tmp_path / "no-web"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "churns_gql.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the API did not start"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
