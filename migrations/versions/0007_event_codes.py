"""stage_events.code: a machine-readable reason on a FAILED stage or job event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:45:00

A failed job's message is for people; clients that react to a refusal (a moderation block, an exhausted
quota, a timeout that may have been billed) need a stable code beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable column; existing events keep no code."""
    op.add_column("stage_events", sa.Column("code", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    op.drop_column("stage_events", "code")
