"""schema.graphql is what the server serves and holds the contract; migrations go up and down."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, build_schema

from churns_gql.cli import export_schema
from tests.conftest import ROOT, TEST_DATABASE_URL, alembic_config, recreate_database, run_in_thread


def test_committed_schema_matches_the_served_one():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_schema(), "run `churns-gql export-schema > schema.graphql` and commit it"


def test_schema_holds_every_name_of_the_contract():
    contract = build_schema((ROOT / "tests" / "contract.graphql").read_text())
    served = build_schema(export_schema())
    misses = []
    for name, ctype in contract.type_map.items():
        if name.startswith("__"):
            continue
        stype = served.type_map.get(name)
        if stype is None or type(stype) is not type(ctype):
            misses.append(name)
            continue
        if isinstance(ctype, GraphQLEnumType):
            misses += [f"{name}.{v}" for v in ctype.values if v not in stype.values]
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType)):
            misses += [
                f"{name} implements {i.name}"
                for i in ctype.interfaces
                if i.name not in {s.name for s in stype.interfaces}
            ]
        if isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, cf in ctype.fields.items():
                sf = stype.fields.get(fname)
                if sf is None or str(sf.type) != str(cf.type):
                    misses.append(f"{name}.{fname}")
                    continue
                for aname, ca in getattr(cf, "args", {}).items():
                    sa = sf.args.get(aname)
                    if sa is None or str(sa.type) != str(ca.type):
                        misses.append(f"{name}.{fname}({aname})")
    assert misses == []


async def test_migrations_upgrade_downgrade_upgrade():
    url = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/churns_test_migrations"
    await recreate_database(url)
    config = alembic_config(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def tables() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await conn.close()
        return {r["tablename"] for r in rows}

    app_tables = {"runs", "images", "refinements", "stage_events"}
    await asyncio.to_thread(run_in_thread, command.upgrade, config, "head")
    assert app_tables <= await tables()
    await asyncio.to_thread(run_in_thread, command.downgrade, config, "base")
    assert not (app_tables & await tables())
    await asyncio.to_thread(run_in_thread, command.upgrade, config, "head")
    assert app_tables <= await tables()
    conn = await asyncpg.connect(dsn)
    try:
        # The CHECK constraint holds: a refinement needs exactly one parent.
        checks = await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'refinements'::regclass AND contype = 'c'"
        )
        assert "ck_refinements_exactly_one_parent" in {c["conname"] for c in checks}
    finally:
        await conn.close()
