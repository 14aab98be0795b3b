"""auth state: once auth has been on it stays on until an operator re-opens it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('auth_state',
    sa.Column('id', sa.SmallInteger(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_auth_state_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_state'))
    )
    # A deployment that already has tokens has had auth on: keep it on.
    op.execute("INSERT INTO auth_state (id, required) SELECT 1, EXISTS (SELECT 1 FROM api_tokens)")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('auth_state')
