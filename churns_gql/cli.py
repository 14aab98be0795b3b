"""The churns-gql command: serve, worker, dev (both together), migrate, check and export-schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from churns_gql.cli_admin import auth_command, fsck_command, token_command
from churns_gql.cli_args import positive as _positive
from churns_gql.cli_args import serve_settings
from churns_gql.cli_args import version as _version
from churns_gql.config import Settings, SettingsError, get_settings
from churns_gql.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent


def _say(message: str) -> None:
    print(message, flush=True)


async def _check_postgres(settings: Settings) -> str | None:
    import asyncpg

    dsn = settings.sync_database_url
    base, _, name = dsn.rpartition("/")
    try:
        conn = await asyncio.wait_for(asyncpg.connect(f"{base}/postgres"), timeout=5)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    try:
        # Creating the database here makes the first run on a fresh machine need no manual step.
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
            _say(f"created database {name}")
    finally:
        await conn.close()
    return None


def check_services(settings: Settings) -> bool:
    """Reach Postgres (creating the database if missing) and Redis; explain exactly what failed."""

    async def both() -> tuple[str | None, str | None]:
        from churns_gql.queue import redis_unreachable

        return await _check_postgres(settings), await redis_unreachable(settings.redis_url, timeout_s=5)

    pg_error, redis_error = asyncio.run(both())
    if pg_error:
        _say(
            f"Postgres is not reachable at {settings.database_url}\n  ({pg_error})\n"
            "  Start it (e.g. `pg_ctlcluster 15 main start` or your system's service manager),\n"
            "  set CHURNS_DATABASE_URL to a server that runs, or use `docker compose up`."
        )
    if redis_error:
        _say(
            f"Redis is not reachable at {settings.redis_url}\n  ({redis_error})\n"
            "  Start it (e.g. `redis-server --daemonize yes`), set CHURNS_REDIS_URL, or use `docker compose up`."
        )
    return not (pg_error or redis_error)


def check_models(settings: Settings) -> bool:
    """With the OpenAI provider: refuse unknown or shut-down models, naming the setting; warn of announced shutdowns."""
    if settings.provider_name != "openai":
        return True
    from churns_gql.providers.generation_openai import configured_model_problems

    errors, warnings = configured_model_problems(settings)
    for line in warnings:
        _say(f"warning: {line}")
    for line in errors:
        _say(f"OpenAI model problem: {line}")
    return not errors


def migrate(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database schema to `revision` with Alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


def export_schema() -> str:
    """The served schema as SDL, exactly as schema.graphql holds it."""
    from churns_gql.app import schema_sdl

    return schema_sdl()


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def _live_tokens(settings: Settings) -> int:
    import asyncpg

    conn = await asyncpg.connect(settings.sync_database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL"))
    finally:
        await conn.close()


def bind_host(settings: Settings, live_tokens: int) -> str:
    """Where to listen: a non-loopback address only when tokens guard the API (or it is allowed outright)."""
    guarded = settings.require_auth or live_tokens > 0 or settings.allow_insecure_bind
    if settings.host in _LOOPBACK or guarded:
        return settings.host
    _say(
        f"no API tokens exist, so the API listens on 127.0.0.1 only, not {settings.host}: "
        "create one with `churns-gql token create NAME` (or set CHURNS_ALLOW_INSECURE_BIND=1)"
    )
    return "127.0.0.1"


def guard_public_bind(settings: Settings, host: str) -> Settings:
    """Settings with auth forced on when the API listens beyond loopback (unless explicitly allowed)."""
    if host in _LOOPBACK or settings.require_auth or settings.allow_insecure_bind:
        return settings
    _say(f"auth: required, because the API listens on {host}")
    return settings.with_changes(require_auth=True)


def serve(settings: Settings) -> None:
    """Run the API under uvicorn."""
    import gc

    import uvicorn

    from churns_gql.app import create_app

    host = bind_host(settings, asyncio.run(_live_tokens(settings)))
    settings = guard_public_bind(settings, host)
    # Fan-out allocates many short-lived objects per event; default thresholds make full collections
    # (hundreds of ms with thousands of subscriptions) frequent. Objects alive at start-up are frozen.
    gc.set_threshold(50_000, 50, 100)
    gc.freeze()
    if not settings.require_auth and host in _LOOPBACK:
        _say("auth: open on loopback until an API token exists (churns-gql token create NAME)")
    logging_options: dict[str, Any] = {}
    if settings.log_format == "json":
        # uvicorn's own config would re-install its text handlers: its loggers go through ours instead.
        configure_logging("json")
        logging_options["log_config"] = None
    uvicorn.run(
        create_app(settings), host=host, port=settings.port, log_level="info", **uvicorn_protocols(), **logging_options
    )


def uvicorn_protocols() -> dict[str, Any]:
    """The connection handling `serve` gives uvicorn: header timeouts, coalesced websocket writes, no deflate."""
    from churns_gql.http_timeouts import KEEP_ALIVE_S, HeaderTimeoutProtocol
    from churns_gql.ws_writes import CorkedWebSocketProtocol

    return {
        "ws_per_message_deflate": False,
        "http": HeaderTimeoutProtocol,
        "ws": CorkedWebSocketProtocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }


def worker(settings: Settings, concurrency: int | None = None) -> None:
    """Run the arq worker until stopped; `concurrency` caps the jobs it runs at once (arq's max_jobs)."""
    from churns_gql.resilient_worker import ResilientWorker
    from churns_gql.worker import worker_settings

    configure_logging(settings.log_format, prefix="worker ")
    options = worker_settings(settings)
    if concurrency is not None:
        options["max_jobs"] = concurrency
    ResilientWorker(**options).run()


# `dev` restarts a child that dies, but not more than this many times in this many seconds.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


def dev(settings: Settings) -> int:
    """Check services, migrate, then run the API and a worker together until Ctrl-C stops both."""
    if not check_services(settings):
        return 2
    migrate(settings.database_url)
    provider = settings.provider_name
    _say(f"provider: {provider}" + ("" if provider == "openai" else " (offline: set OPENAI_API_KEY to use OpenAI)"))
    exe = [sys.executable, "-m", "churns_gql.cli"]
    commands = [[*exe, "serve"], [*exe, "worker"]]
    children = [subprocess.Popen(command) for command in commands]
    base = f"http://{settings.host}:{settings.port}"
    _say(
        f"\n  web client  {base}/\n  GraphiQL    {base}/graphql\n  files       {base}/files/runs/...\n"
        "  Ctrl-C stops the API and the worker.\n"
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    restarts: list[float] = []
    try:
        while not stopping:
            time.sleep(0.3)
            for i, child in enumerate(children):
                if child.poll() is None or stopping:
                    continue
                # A dead API or worker is started again, unless it keeps dying (then dev gives up and says so).
                now = time.monotonic()
                restarts[:] = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
                if len(restarts) > MAX_RESTARTS:
                    _say(f"{commands[i][-1]} keeps exiting (code {child.returncode}); stopping")
                    return 1
                _say(f"{commands[i][-1]} exited with code {child.returncode}; starting it again")
                children[i] = subprocess.Popen(commands[i])
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


CLIENT_COMMANDS = ("runs", "import", "refine", "cancel", "tree")


def _client_commands(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=os.environ.get("CHURNS_SERVER_URL", "http://127.0.0.1:8000"),
        help="the API to talk to (env CHURNS_SERVER_URL)",
    )
    common.add_argument("--token", default=os.environ.get("CHURNS_TOKEN"), help="API token (env CHURNS_TOKEN)")
    runs = sub.add_parser("runs", parents=[common], help="list runs, newest first")
    runs.add_argument("--first", type=int, default=20)
    runs.add_argument("--status", choices=["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
    imp = sub.add_parser("import", parents=[common], help="import images as a run")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--prompt")
    imp.add_argument("--metadata", help="a JSON file stored as pipeline_metadata.json")
    ref = sub.add_parser("refine", parents=[common], help="refine an image or a refinement")
    ref.add_argument("parent", help="global id of the Image or Refinement")
    ref.add_argument("--type", choices=["prompt", "text", "subject"], default="prompt")
    ref.add_argument("--prompt")
    ref.add_argument("--instructions")
    ref.add_argument("--mask", action="append", help="x,y,width,height in fractions; repeatable")
    ref.add_argument("--reference", help="reference image (subject repair)")
    ref.add_argument("--creativity", type=int, default=2, choices=[1, 2, 3])
    ref.add_argument("--watch", action="store_true", help="show a progress bar until the job ends")
    can = sub.add_parser("cancel", parents=[common], help="cancel a refinement or a run")
    can.add_argument("id")
    tre = sub.add_parser("tree", parents=[common], help="print a run's version tree")
    tre.add_argument("run_id")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the churns-gql command."""
    parser = argparse.ArgumentParser(prog="churns-gql", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_args = sub.add_parser("serve", help="run the API (uvicorn)")
    serve_args.add_argument("--host", help="address to listen on (default: CHURNS_HOST, else 127.0.0.1)")
    serve_args.add_argument("--port", type=_positive, help="port to listen on (default: CHURNS_PORT, else 8000)")
    worker_args = sub.add_parser("worker", help="run the arq worker")
    worker_args.add_argument("--concurrency", type=_positive, help="jobs one worker runs at once (default: 4)")
    sub.add_parser("dev", help="check services, migrate, run API and worker together")
    sub.add_parser("migrate", help="create the database if missing and apply migrations")
    sub.add_parser("check", help="check that Postgres and Redis answer")
    sub.add_parser("export-schema", help="print the served GraphQL schema (SDL)")
    _client_commands(sub)
    token = sub.add_parser("token", help="API tokens: create NAME, list, revoke ID")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("value", nargs="?", help="the name (create) or id (revoke)")
    fsck = sub.add_parser("fsck", help="check run folders against the database (--repair fixes what it can)")
    fsck.add_argument("--repair", action="store_true")
    auth = sub.add_parser("auth", help="auth status, or open (re-open auth once every token is revoked)")
    auth.add_argument("action", choices=["status", "open"])
    args = parser.parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        from churns_gql import client

        return client.main(args)
    try:
        settings = get_settings()
    except SettingsError as exc:
        # A bad variable is the operator's to fix: say which, without a traceback.
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.command == "export-schema":
        sys.stdout.write(export_schema())
        return 0
    if args.command in ("serve", "worker", "dev", "check") and not check_models(settings):
        return 2
    if args.command == "serve":
        serve(serve_settings(settings, args.host, args.port))
        return 0
    if args.command == "worker":
        worker(settings, args.concurrency)
        return 0
    if args.command == "dev":
        return dev(settings)
    if args.command == "token":
        if args.action in ("create", "revoke") and not args.value:
            parser.error(f"token {args.action} needs a {'name' if args.action == 'create' else 'token id'}")
        return asyncio.run(token_command(settings, args.action, args.value))
    if args.command == "fsck":
        return asyncio.run(fsck_command(settings, args.repair))
    if args.command == "auth":
        return asyncio.run(auth_command(settings, args.action))
    if args.command == "check":
        return 0 if check_services(settings) else 2  # models were checked above
    if args.command == "migrate":
        if not check_services(settings):
            return 2
        migrate(settings.database_url)
        _say("database is at the latest migration")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
