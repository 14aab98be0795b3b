"""The churns-gql command: service checks that say what failed, migrate, export-schema."""

from __future__ import annotations

import subprocess
import sys

import asyncpg
from alembic.script import ScriptDirectory

from churns_gql.cli import check_services, migrate
from churns_gql.config import Settings
from tests.conftest import ROOT, TEST_DATABASE_URL, alembic_config, recreate_database, run_in_thread


def test_unreachable_services_are_named_with_their_urls(capsys):
    settings = Settings.defaults(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/x", redis_url="redis://127.0.0.1:2/0"
    )
    assert check_services(settings) is False
    out = capsys.readouterr().out
    assert "Postgres is not reachable at postgresql+asyncpg://postgres@127.0.0.1:1/x" in out
    assert "Redis is not reachable at redis://127.0.0.1:2/0" in out
    assert "docker compose up" in out and "Traceback" not in out


def test_dev_without_services_exits_cleanly():
    env = {
        "PATH": "/usr/bin:/bin",
        "CHURNS_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x",
        "CHURNS_REDIS_URL": "redis://127.0.0.1:2/0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "churns_gql.cli", "dev"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "127.0.0.1:1/x" in result.stdout


async def test_check_creates_a_missing_database_and_migrate_brings_it_to_head():
    import asyncio

    url = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/churns_test_cli"
    await recreate_database(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    await conn.execute('DROP DATABASE IF EXISTS "churns_test_cli" WITH (FORCE)')
    await conn.close()
    settings = Settings.defaults(database_url=url, redis_url="redis://127.0.0.1:6379/15")
    assert await asyncio.to_thread(check_services, settings)
    await asyncio.to_thread(run_in_thread, migrate, url)
    conn = await asyncpg.connect(dsn)
    try:
        heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
        assert [await conn.fetchval("SELECT version_num FROM alembic_version")] == heads
    finally:
        await conn.close()


def test_export_schema_prints_the_committed_sdl():
    result = subprocess.run(
        [sys.executable, "-m", "churns_gql.cli", "export-schema"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0 and result.stdout == (ROOT / "schema.graphql").read_text()


def test_dev_starts_a_dead_child_again(tmp_path, services):
    """`churns-gql dev` brings back a worker killed with -9 (and the API keeps serving)."""
    import os
    import signal
    import time

    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": services.settings.database_url,
        "CHURNS_REDIS_URL": services.settings.redis_url,
        "CHURNS_DATA_DIR": str(tmp_path / "data"),
        "CHURNS_PORT": str(_free_port()),
        "CHURNS_PROVIDER": "local",
        "CHURNS_WEB_DIR": str(tmp_path / "no-web"),
    }
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log_file:
        dev = subprocess.Popen(
            [sys.executable, "-m", "churns_gql.cli", "dev"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        worker = _wait_for_child(dev, "worker", log_path)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "worker exited with code -9; starting it again" not in log_path.read_text():
            assert time.monotonic() < deadline and dev.poll() is None, log_path.read_text()[-2000:]
            time.sleep(0.2)
        again = _wait_for_child(dev, "worker", log_path)
        assert again != worker and dev.poll() is None
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(30)
    assert dev.returncode == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_child(parent, command: str, log_path) -> int:
    """The pid of the child of `parent` running `churns_gql.cli <command>` (a loaded machine may need a minute)."""
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-P", str(parent.pid), "-f", f"churns_gql.cli {command}$"], capture_output=True, text=True
        ).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.2)
    raise AssertionError(f"no {command} child; dev said: {log_path.read_text()[-2000:]}")
