"""initial tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 09:04:56.057132
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', name='job_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=True),
    sa.Column('platform', sa.String(length=64), nullable=True),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('generation_cost_usd', sa.Float(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs'))
    )
    op.create_index('ix_runs_created_at_id', 'runs', ['created_at', 'id'], unique=False)
    op.create_index('ix_runs_status_created_at', 'runs', ['status', 'created_at'], unique=False)
    op.create_table('images',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('generation_index', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.CheckConstraint('generation_index >= 0', name=op.f('ck_images_generation_index_nonneg')),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_images_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images')),
    sa.UniqueConstraint('run_id', 'generation_index', name='uq_images_run_id_generation_index')
    )
    op.create_table('stage_events',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED', 'CANCELLED', name='stage_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('preview_path', sa.String(length=512), nullable=True),
    sa.Column('terminal', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_stage_events_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_events')),
    sa.UniqueConstraint('job_id', 'seq', name='uq_stage_events_job_id_seq')
    )
    op.create_index('ix_stage_events_run_id_id', 'stage_events', ['run_id', 'id'], unique=False)
    op.create_table('refinements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('parent_image_id', sa.Uuid(), nullable=True),
    sa.Column('parent_refinement_id', sa.Uuid(), nullable=True),
    sa.Column('generation_index', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('SUBJECT', 'TEXT', 'PROMPT', name='refinement_type', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', name='job_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('mask', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('creativity_level', sa.Integer(), server_default='2', nullable=False),
    sa.Column('reference_image_path', sa.String(length=512), nullable=True),
    sa.Column('image_path', sa.String(length=512), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(parent_image_id IS NULL) <> (parent_refinement_id IS NULL)', name=op.f('ck_refinements_exactly_one_parent')),
    sa.CheckConstraint('creativity_level BETWEEN 1 AND 3', name=op.f('ck_refinements_creativity_range')),
    sa.CheckConstraint('version >= 2', name=op.f('ck_refinements_version_after_original')),
    sa.ForeignKeyConstraint(['parent_image_id'], ['images.id'], name=op.f('fk_refinements_parent_image_id_images'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_refinement_id'], ['refinements.id'], name=op.f('fk_refinements_parent_refinement_id_refinements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_refinements_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refinements'))
    )
    op.create_index('ix_refinements_parent_image_id_created_at', 'refinements', ['parent_image_id', 'created_at'], unique=False)
    op.create_index('ix_refinements_parent_refinement_id_created_at', 'refinements', ['parent_refinement_id', 'created_at'], unique=False)
    op.create_index('ix_refinements_run_id_created_at', 'refinements', ['run_id', 'created_at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_refinements_run_id_created_at', table_name='refinements')
    op.drop_index('ix_refinements_parent_refinement_id_created_at', table_name='refinements')
    op.drop_index('ix_refinements_parent_image_id_created_at', table_name='refinements')
    op.drop_table('refinements')
    op.drop_index('ix_stage_events_run_id_id', table_name='stage_events')
    op.drop_table('stage_events')
    op.drop_table('images')
    op.drop_index('ix_runs_status_created_at', table_name='runs')
    op.drop_index('ix_runs_created_at_id', table_name='runs')
    op.drop_table('runs')
