"""api tokens and run owners

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:23:25.832553
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.add_column('runs', sa.Column('owner_token_id', sa.Uuid(), nullable=True))
    op.create_index('ix_runs_owner_token_id_created_at', 'runs', ['owner_token_id', 'created_at'], unique=False)
    op.create_foreign_key(op.f('fk_runs_owner_token_id_api_tokens'), 'runs', 'api_tokens', ['owner_token_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(op.f('fk_runs_owner_token_id_api_tokens'), 'runs', type_='foreignkey')
    op.drop_index('ix_runs_owner_token_id_created_at', table_name='runs')
    op.drop_column('runs', 'owner_token_id')
    op.drop_table('api_tokens')
