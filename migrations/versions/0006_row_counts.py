"""row counts kept by triggers: runs per owner and status, refinements per run, type and status

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:30:00

`totalCount` read a COUNT(*) over the caller's runs (or a run's refinements), linear in them. The counters
are delta rows written by triggers in the transaction that changes the rows, so they are exact; a count is
the sum of its key's rows. Appending instead of updating one row per key means concurrent inserts into one
bucket never wait for each other. Every 16th delta row (by id) folds its key's rows into one, skipping rows
another folder holds (SKIP LOCKED), so a key keeps a handful of rows and nothing ever waits on a counter.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Delta rows with id % FOLD_EVERY = 0 fold their key: about FOLD_EVERY rows per key between folds.
FOLD_EVERY = 16

NULLABLE = {'owner_token_id'}
# (counter table, counted table, key columns, key types, which deleted rows to count down)
COUNTERS = (
    ('run_counts', 'runs', ('owner_token_id', 'status'), ('uuid', 'varchar'), 'true'),
    # A run's deletion cascades to its refinements: their deltas would outlive the run's counter rows.
    (
        'refinement_counts',
        'refinements',
        ('run_id', 'type', 'status'),
        ('uuid', 'varchar', 'varchar'),
        'EXISTS (SELECT 1 FROM runs WHERE runs.id = changed.run_id)',
    ),
)


def _execute(script: str) -> None:
    """Run statements separated by `;;` lines one by one (asyncpg prepares a single statement at a time)."""
    for statement in script.split('\n;;\n'):
        if statement.strip():
            op.execute(statement)


def _functions(counter: str, counted: str, keys: tuple[str, ...], types: tuple[str, ...], alive: str) -> str:
    cols = ', '.join(keys)
    args = ', '.join(f'k_{k} {t}' for k, t in zip(keys, types))
    # Folding runs only under READ COMMITTED: each statement's fresh snapshot skips rows another folder
    # deleted and committed; a REPEATABLE READ snapshot would still see them (and fail to delete them).
    # Only a run's owner may be NULL (the open bucket); `=` keeps the other keys usable by the index.
    match = ' AND '.join(f'{k} IS NOT DISTINCT FROM k_{k}' if k in NULLABLE else f'{k} = k_{k}' for k in keys)
    kv = ', '.join(f'k_{k}' for k in keys)
    added = ', '.join(f'added.{k}' for k in keys)
    old = ', '.join(f'OLD.{k}' for k in keys)
    new = ', '.join(f'NEW.{k}' for k in keys)
    return f"""
    CREATE FUNCTION {counter}_fold({args}) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RETURN;
        END IF;
        WITH gone AS (
            DELETE FROM {counter} WHERE id IN (
                SELECT id FROM {counter} WHERE {match} FOR UPDATE SKIP LOCKED
            ) RETURNING n
        )
        INSERT INTO {counter} ({cols}, n) SELECT {kv}, sum(n) FROM gone HAVING sum(n) <> 0;
    END $$
;;

    CREATE FUNCTION {counter}_add_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        added record;
    BEGIN
        FOR added IN
            WITH delta AS (
                INSERT INTO {counter} ({cols}, n)
                SELECT {cols}, CASE WHEN TG_OP = 'DELETE' THEN -count(*) ELSE count(*) END
                FROM changed WHERE TG_OP <> 'DELETE' OR {alive} GROUP BY {cols}
                RETURNING id, {cols}
            )
            SELECT * FROM delta WHERE id % {FOLD_EVERY} = 0
        LOOP
            PERFORM {counter}_fold({added});
        END LOOP;
        RETURN NULL;
    END $$
;;

    CREATE FUNCTION {counter}_move_row() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        added record;
    BEGIN
        FOR added IN
            WITH delta AS (
                INSERT INTO {counter} ({cols}, n) VALUES ({old}, -1), ({new}, 1) RETURNING id, {cols}
            )
            SELECT * FROM delta WHERE id % {FOLD_EVERY} = 0
        LOOP
            PERFORM {counter}_fold({added});
        END LOOP;
        RETURN NULL;
    END $$
;;

    CREATE TRIGGER {counter}_insert AFTER INSERT ON {counted} REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {counter}_add_rows()
;;
    CREATE TRIGGER {counter}_delete AFTER DELETE ON {counted} REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {counter}_add_rows()
;;
    CREATE TRIGGER {counter}_update AFTER UPDATE OF {cols} ON {counted} FOR EACH ROW
        WHEN ({' OR '.join(f'OLD.{k} IS DISTINCT FROM NEW.{k}' for k in keys)})
        EXECUTE FUNCTION {counter}_move_row()
;;
    """


def upgrade() -> None:
    """Add the counter tables, their triggers, and fill them from the rows there are."""
    # Nothing may change the counted rows between the backfill and the triggers taking over.
    op.execute('LOCK TABLE runs, refinements IN SHARE ROW EXCLUSIVE MODE')
    _execute("""
        CREATE TABLE run_counts (
            id bigserial CONSTRAINT pk_run_counts PRIMARY KEY,
            owner_token_id uuid,
            status varchar(16) NOT NULL,
            n bigint NOT NULL
        )
;;
        CREATE INDEX ix_run_counts_owner_token_id_status ON run_counts (owner_token_id, status)
;;
        CREATE TABLE refinement_counts (
            id bigserial CONSTRAINT pk_refinement_counts PRIMARY KEY,
            run_id uuid NOT NULL,
            type varchar(16) NOT NULL,
            status varchar(16) NOT NULL,
            n bigint NOT NULL
        )
;;
        CREATE INDEX ix_refinement_counts_run_id_type_status ON refinement_counts (run_id, type, status)
;;
    """)
    for counter, counted, keys, types, alive in COUNTERS:
        _execute(_functions(counter, counted, keys, types, alive))
    # A deleted run's counter rows go with it (whichever of its triggers and its refinements' fires first).
    # TRUNCATE fires no DELETE trigger: the counters are emptied with the tables.
    _execute("""
        CREATE FUNCTION runs_counts_forget() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM refinement_counts WHERE run_id IN (SELECT id FROM changed);
            RETURN NULL;
        END $$
;;
        CREATE TRIGGER runs_counts_forget AFTER DELETE ON runs REFERENCING OLD TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION runs_counts_forget()
;;
        CREATE FUNCTION runs_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE run_counts, refinement_counts;
            RETURN NULL;
        END $$
;;
        CREATE TRIGGER runs_counts_truncate AFTER TRUNCATE ON runs
            FOR EACH STATEMENT EXECUTE FUNCTION runs_counts_truncate()
;;
        CREATE FUNCTION refinements_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE refinement_counts;
            RETURN NULL;
        END $$
;;
        CREATE TRIGGER refinements_counts_truncate AFTER TRUNCATE ON refinements
            FOR EACH STATEMENT EXECUTE FUNCTION refinements_counts_truncate()
;;
    """)
    _execute("""
        INSERT INTO run_counts (owner_token_id, status, n)
        SELECT owner_token_id, status, count(*) FROM runs GROUP BY owner_token_id, status
;;
        INSERT INTO refinement_counts (run_id, type, status, n)
        SELECT run_id, type, status, count(*) FROM refinements GROUP BY run_id, type, status
;;
    """)


def downgrade() -> None:
    """Drop the triggers, their functions and the counter tables."""
    for statement in (
        'DROP TRIGGER runs_counts_truncate ON runs',
        'DROP TRIGGER runs_counts_forget ON runs',
        'DROP TRIGGER refinements_counts_truncate ON refinements',
        'DROP FUNCTION runs_counts_truncate()',
        'DROP FUNCTION runs_counts_forget()',
        'DROP FUNCTION refinements_counts_truncate()',
    ):
        op.execute(statement)
    for counter, counted, _keys, types, _alive in COUNTERS:
        for what in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER {counter}_{what} ON {counted}')
        op.execute(f'DROP FUNCTION {counter}_add_rows()')
        op.execute(f'DROP FUNCTION {counter}_move_row()')
        op.execute(f"DROP FUNCTION {counter}_fold({', '.join(types)})")
    op.execute('DROP TABLE refinement_counts')
    op.execute('DROP TABLE run_counts')
