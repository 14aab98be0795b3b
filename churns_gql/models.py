"""The tables: runs, their original images, refinements (a tree over them) and stage events."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from churns_gql.db import Base
from churns_gql.geometry import Rect
from churns_gql.refinement_types import RefinementType

__all__ = ["RefinementType"]  # the one refinement-type enum lives in a module the providers can import too


class JobStatus(str, enum.Enum):
    """Life cycle of a run's generation or of a refinement."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class StageStatus(str, enum.Enum):
    """Life cycle of one pipeline stage."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native type: adding a value later needs no ALTER TYPE.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16, validate_strings=True)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, when made."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthState(Base):
    """The one row saying whether auth is required: set when a token is made, cleared only by an operator."""

    __tablename__ = "auth_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1)
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    changed_at: Mapped[datetime] = _now()


class RateWindow(Base):
    """Mutations that queue work, counted per token (or the shared open bucket) in one-minute windows."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class Run(Base):
    """A generation run: its inputs, status and cost; its images live in data/runs/{id}/."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"), nullable=False)
    prompt: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)
    generation_cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    # What the job was expected to cost when queued: counts against the daily spend limit until it is known.
    estimated_cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    # The API token that made the run; only that token sees it once tokens are in use.
    owner_token_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))

    __table_args__ = (
        # Runs are listed newest first, optionally by status.
        Index("ix_runs_created_at_id", "created_at", "id"),
        Index("ix_runs_status_created_at", "status", "created_at"),
        Index("ix_runs_owner_token_id_created_at", "owner_token_id", "created_at"),
    )


class Image(Base):
    """An original image of a run (version 1)."""

    __tablename__ = "images"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    generation_index: Mapped[int] = mapped_column(Integer, nullable=False)
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        UniqueConstraint("run_id", "generation_index", name="uq_images_run_id_generation_index"),
        CheckConstraint("generation_index >= 0", name="generation_index_nonneg"),
    )


class Refinement(Base):
    """A refinement job and its result: a child of an original image or of another refinement."""

    __tablename__ = "refinements"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    parent_image_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    parent_refinement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refinements.id", ondelete="CASCADE"))
    generation_index: Mapped[int] = mapped_column(Integer, nullable=False)
    # Unique per original in creation order; `depth` is the lineage (1 = made from the original).
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    depth: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    type: Mapped[RefinementType] = mapped_column(_enum(RefinementType, "refinement_type"), nullable=False)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"), nullable=False)
    prompt: Mapped[str | None] = mapped_column(Text)
    instructions: Mapped[str | None] = mapped_column(Text)
    mask: Mapped[list[dict[str, float]] | None] = mapped_column(JSONB)
    creativity_level: Mapped[int] = mapped_column(Integer, nullable=False, default=2, server_default="2")
    reference_image_path: Mapped[str | None] = mapped_column(String(512))
    image_path: Mapped[str | None] = mapped_column(String(512))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    estimated_cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def rects(self) -> list[Rect]:
        """The stored mask as rectangles (empty: the whole image)."""
        return [Rect.from_dict(r) for r in self.mask or []]

    __table_args__ = (
        CheckConstraint("(parent_image_id IS NULL) <> (parent_refinement_id IS NULL)", name="exactly_one_parent"),
        CheckConstraint("version >= 2", name="version_after_original"),
        CheckConstraint("creativity_level BETWEEN 1 AND 3", name="creativity_range"),
        # Children of an image / of a refinement, oldest first; refinements of a run, oldest first.
        Index("ix_refinements_parent_image_id_created_at", "parent_image_id", "created_at"),
        Index("ix_refinements_parent_refinement_id_created_at", "parent_refinement_id", "created_at"),
        Index("ix_refinements_run_id_created_at", "run_id", "created_at"),
        # The next version of an original is the last entry here (refineImage reads it under the version lock).
        Index("ix_refinements_run_id_generation_index_version", "run_id", "generation_index", "version"),
    )


class RunCount(Base):
    """A delta of the number of runs per owner (NULL: made without a token) and status, written by triggers.

    The count of a bucket is the sum of its rows (migration 0006 keeps them exact and few).
    """

    __tablename__ = "run_counts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    owner_token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_run_counts_owner_token_id_status", "owner_token_id", "status"),)


class RefinementCount(Base):
    """A delta of the number of one run's refinements per type and status, written by triggers."""

    __tablename__ = "refinement_counts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_refinement_counts_run_id_type_status", "run_id", "type", "status"),)


class StageEvent(Base):
    """One progress event of a job (a run's generation or a refinement), numbered by seq per job."""

    __tablename__ = "stage_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    stage: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[StageStatus] = mapped_column(_enum(StageStatus, "stage_status"), nullable=False)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    preview_path: Mapped[str | None] = mapped_column(String(512))
    # Stable reason of a FAILED stage or job (e.g. moderation_blocked), beside the message for people.
    code: Mapped[str | None] = mapped_column(String(64))
    terminal: Mapped[bool] = mapped_column(default=False, server_default="false", nullable=False)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        # Also the index for "events of a job after seq".
        UniqueConstraint("job_id", "seq", name="uq_stage_events_job_id_seq"),
        Index("ix_stage_events_run_id_id", "run_id", "id"),
    )
