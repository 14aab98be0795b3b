"""refinement depth: lineage kept apart from the version number, versions renumbered per original

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add refinements.depth, fill it from the parent chains, and number versions uniquely per original."""
    op.add_column('refinements', sa.Column('depth', sa.Integer(), server_default='1', nullable=False))
    op.execute("""
        WITH RECURSIVE walk(id, depth) AS (
            SELECT id, 1 FROM refinements WHERE parent_image_id IS NOT NULL
            UNION ALL
            SELECT r.id, walk.depth + 1 FROM refinements r JOIN walk ON r.parent_refinement_id = walk.id
        )
        UPDATE refinements SET depth = walk.depth FROM walk WHERE refinements.id = walk.id
    """)
    # Earlier versions were parent + 1, so siblings shared a number; creation order makes them unique.
    op.execute("""
        UPDATE refinements SET version = numbered.version FROM (
            SELECT id, 1 + row_number() OVER (PARTITION BY run_id, generation_index ORDER BY created_at, id) AS version
            FROM refinements
        ) AS numbered
        WHERE refinements.id = numbered.id
    """)


def downgrade() -> None:
    """Drop refinements.depth (the renumbered versions stay: they remain valid numbers)."""
    op.drop_column('refinements', 'depth')
