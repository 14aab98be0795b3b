"""refinements (run_id, generation_index, version): number a version with one index probe

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:20:00

refineImage numbers a version as max(version) over the original's refinements while it holds the original's
version lock. Through (run_id, created_at) that read every refinement of the run, so the time under the lock
grew with the run; this index answers the max from its last entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index."""
    op.create_index(
        "ix_refinements_run_id_generation_index_version", "refinements", ["run_id", "generation_index", "version"]
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_refinements_run_id_generation_index_version", table_name="refinements")
