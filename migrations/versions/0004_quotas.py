"""quotas: per-token rate windows and each job's estimated cost

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('rate_windows',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_windows'))
    )
    op.add_column('runs', sa.Column('estimated_cost_usd', sa.Float(), server_default='0', nullable=False))
    op.add_column('refinements', sa.Column('estimated_cost_usd', sa.Float(), server_default='0', nullable=False))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column('refinements', 'estimated_cost_usd')
    op.drop_column('runs', 'estimated_cost_usd')
    op.drop_table('rate_windows')
