"""What every scenario shares: sizes, the run context, a result row and percentiles."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.stack import Stack, Target


@dataclass
class Sizes:
    """How big each scenario is; `full()` is the issue's size, `smoke()` a tiny correctness-only one."""

    p1_connections: int = 10
    p1_subs_per_connection: int = 100
    p1_events: int = 50
    p1_floor_events: int = 200
    p2_connections: int = 100
    p2_subs_per_connection: int = 100
    p3_images: int = 4
    p3_refinements: int = 1000
    p3_chain_depth: int = 50
    p3_chains: int = 2
    p3_nesting: int = 10
    p3_repeats: int = 20
    p4_connections: int = 32
    p4_duration_s: float = 5.0
    p4_warmup_s: float = 1.0
    p5_connections: int = 16
    p5_duration_s: float = 5.0
    p5_warmup_s: float = 1.0
    p6_jobs: int = 8
    p6_image_px: int = 1024
    p7_jobs: int = 50
    p8_sizes: str = "1000,10000"  # 100,000 took > 20 GiB in one process (see README)
    p8_runs: int = 100_000
    p8_json_entries: str = "10,10000"

    @classmethod
    def full(cls) -> Sizes:
        """The sizes the targets are stated for."""
        return cls()

    @classmethod
    def smoke(cls) -> Sizes:
        """Tiny sizes: every code path runs, nothing is measured seriously."""
        return cls(
            p1_connections=2,
            p1_subs_per_connection=10,
            p1_events=5,
            p1_floor_events=10,
            p2_connections=2,
            p2_subs_per_connection=10,
            p3_images=2,
            p3_refinements=50,
            p3_chain_depth=12,
            p3_chains=1,
            p3_nesting=10,
            p3_repeats=2,
            p4_connections=4,
            p4_duration_s=1.0,
            p4_warmup_s=0.2,
            p5_connections=4,
            p5_duration_s=1.0,
            p5_warmup_s=0.2,
            p6_jobs=1,
            p6_image_px=256,
            p7_jobs=4,
            p8_sizes="50,200",
            p8_runs=200,
            p8_json_entries="2,20",
        )

    def override(self, assignments: Sequence[str]) -> None:
        """Apply NAME=VALUE assignments (e.g. p2_connections=20), converting to each field's type."""
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        for item in assignments:
            name, _, value = item.partition("=")
            if name not in types:
                raise SystemExit(f"unknown size {name!r}; known: {', '.join(types)}")
            setattr(self, name, types[name](value))


@dataclass
class Ctx:
    """What a scenario can use: the stack under test, sizes, an HTTP client and a database session factory."""

    stack: Stack
    target: Target
    sizes: Sizes
    smoke: bool
    http: httpx.AsyncClient
    db: async_sessionmaker[AsyncSession]
    # Figures one scenario leaves for a later one (P4's bare-Strawberry rate for P5's second ratio).
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def api_pid(self) -> int:
        """Process id of the API server."""
        return self.stack.require_api().pid

    @property
    def api_port(self) -> int:
        """Port of the API server."""
        return self.stack.port


@dataclass
class Row:
    """One line of the table, plus the checks and details behind it."""

    id: str
    scenario: str
    figure: float | None = None
    figure_text: str = "—"
    reference: float | None = None
    reference_text: str = "—"
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the scenario ran and every correctness check passed."""
        return self.error is None and bool(self.checks) and all(self.checks.values())


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(ns: float) -> float:
    """Nanoseconds as milliseconds, rounded for the table."""
    return round(ns / 1e6, 3)


def raw_id(global_id: str) -> uuid.UUID:
    """The UUID inside a global id."""
    from churns_gql.graphql.ids import decode_id

    decoded = decode_id(global_id)
    if decoded is None:
        raise ValueError(f"not a global id: {global_id}")
    return decoded[1]
