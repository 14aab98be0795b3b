"""Operator commands of churns-gql: API tokens, the auth switch and the storage check (fsck)."""

from __future__ import annotations

import uuid

from churns_gql.config import Settings


def _say(message: str) -> None:
    """Print an operator-facing line."""
    print(message, flush=True)


async def token_command(settings: Settings, action: str, value: str | None) -> int:
    """token create NAME | list | revoke ID."""
    from churns_gql.db import make_engine, make_sessionmaker
    from churns_gql.services import tokens

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            if action == "create":
                row, token = await tokens.create_token(session, value or "")
                await session.commit()
                _say(f"token {row.name} ({row.id}):\n{token}\nIt is shown only now; keep it secret.")
                return 0
            if action == "list":
                for row in await tokens.list_tokens(session):
                    state = "revoked" if row.revoked_at else "live"
                    _say(f"{row.id}  {row.name:<24} {state:<8} created {row.created_at:%Y-%m-%d %H:%M}")
                return 0
            ok = await tokens.revoke_token(session, uuid.UUID(value or ""))
            await session.commit()
            _say("revoked" if ok else "no live token with that id")
            return 0 if ok else 1
    finally:
        await engine.dispose()


async def fsck_command(settings: Settings, repair: bool) -> int:
    """Report (and with --repair fix) rows without files, lost index entries and orphan files; 1 if any found."""
    from churns_gql.db import make_engine, make_sessionmaker
    from churns_gql.services import fsck
    from churns_gql.storage import RunStorage

    engine = make_engine(settings.database_url, pool_size=2)
    try:
        report = await fsck.check(
            make_sessionmaker(engine), RunStorage.from_url(settings.storage_url, settings.data_dir), repair=repair
        )
    finally:
        await engine.dispose()
    for line in report.lines():
        _say(line)
    if repair and not report.clean:
        _say("repaired: index entries added or dropped, orphans removed, rows without files marked FAILED")
    return 0 if report.clean or repair else 1


async def auth_command(settings: Settings, action: str) -> int:
    """auth status | open: show whether auth is on, or re-open an API whose tokens are all revoked."""
    from churns_gql.db import make_engine, make_sessionmaker
    from churns_gql.services import tokens

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            if action == "status":
                required = settings.require_auth or await tokens.auth_required(session)
                live = await tokens.live_token_count(session)
                _say(f"auth: {'required' if required else 'open'}; {live} live token(s)")
                return 0
            refused = await tokens.reopen_auth(session)
            if refused:
                _say(f"auth stays required: {refused}")
                return 1
            await session.commit()
            _say("auth re-opened: restart the API; it runs open on loopback until a token is created")
            return 0
    finally:
        await engine.dispose()
