"""The soak's bookkeeping and its end-of-run invariants, checked against the database and the run folders."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.global_ids import decode_id
from churns_gql.models import JobStatus, Refinement
from churns_gql.services import fsck
from churns_gql.storage import RunStorage

# How long, after the load stops, every accepted job may take to reach a terminal state (reaper passes
# every 15 s re-queue what Redis lost; a QUEUED row waits 20 s before it counts as lost).
SETTLE_S = 150.0


@dataclass
class Tally:
    """Counts of what the soak did and what it injected."""

    faults: Counter[str] = field(default_factory=Counter)
    work: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)

    def table(self, results: dict[str, tuple[bool, str]], minutes: float, tmpfs: bool) -> str:
        """One printable table: faults injected, work done, invariants held."""
        rows = [f"| chaos soak, {minutes:g} min | |", "|---|---|"]
        for fault in ("kill -9 worker", "kill -9 API", "restart Redis", "restart Postgres", "disk full"):
            note = "" if fault != "disk full" or tmpfs else " (no tmpfs: cannot mount here)"
            rows.append(f"| fault: {fault} | {self.faults[fault]}{note} |")
        rows += [f"| {name} | {count} |" for name, count in sorted(self.work.items())]
        rows += [
            f"| invariant: {name} | {'held' if ok else 'FAILED'}: {detail} |" for name, (ok, detail) in results.items()
        ]
        return "\n".join(rows + [f"| answers seen | {_answers(self.requests)} |"])


def _answers(requests: dict[str, int]) -> str:
    """Every kind of answer with its count, most frequent first."""
    return ", ".join(f"{name} ×{count}" for name, count in sorted(requests.items(), key=lambda kv: (-kv[1], kv[0])))


def answers_ok(requests: dict[str, int]) -> tuple[bool, str]:
    """No answer was a masked error (an outage must come with a code a client can retry on) and the soak's
    own client never crashed on one (an exception class it did not expect, e.g. a TypeError on data null)."""
    bad = {
        name: count
        for name, count in requests.items()
        if name == "error INTERNAL" or name == "error None" or name.endswith(("(TypeError)", "(KeyError)"))
    }
    return not bad, f"{sum(bad.values())} masked or unhandled" + (f": {_answers(bad)}" if bad else "")


async def _wait_terminal(db: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, JobStatus]:
    """Statuses once every id is terminal, or whatever they are when SETTLE_S runs out."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        statuses: dict[uuid.UUID, JobStatus] = {}
        try:
            async with db() as session:
                rows = await session.execute(select(Refinement.id, Refinement.status).where(Refinement.id.in_(ids)))
                statuses = {row.id: row.status for row in rows}
        except Exception:
            pass
        done = len(statuses) == len(ids) and all(s.is_terminal for s in statuses.values())
        if done or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(2)


def _subscriptions_ok(subscriptions: list[Any], statuses: dict[uuid.UUID, JobStatus]) -> tuple[bool, str]:
    """Every stream replayed the job from seq 1 in order without gap or repeat, and every followed job was
    seen to its terminal event by some stream, unless its streams were cut by a fault (dropped or an error)."""
    out_of_order = [s for s in subscriptions if s.seqs != list(range(1, len(s.seqs) + 1))]
    ends = Counter(s.end.split(" (")[0] for s in subscriptions)
    followed = {s.job_id for s in subscriptions}
    finished = {s.job_id for s in subscriptions if s.end == "terminal"}
    # A stream that closed without a terminal event or an error message lost events silently.
    silent = [s for s in subscriptions if s.end == "closed"]
    detail = (
        f"{len(subscriptions)} streams of {len(followed)} jobs, {len(finished)} seen to the end "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ends.items()))})"
    )
    if out_of_order:
        detail += f"; {len(out_of_order)} out of order, e.g. {out_of_order[0].seqs[:8]}"
    if silent:
        detail += f"; {len(silent)} closed silently"
    return not out_of_order and not silent, detail


async def check_invariants(stack: Any, load: Any, tally: Tally) -> dict[str, tuple[bool, str]]:
    """Wait for every accepted job to settle, then check each invariant; returns name -> (held, detail)."""
    engine = make_engine(stack.database_url)
    db = make_sessionmaker(engine)
    storage = RunStorage(stack.data_dir)
    try:
        ids = [decode_id(gid)[1] for gid in load.accepted]
        statuses = await _wait_terminal(db, ids)
        counts = Counter(s.value for s in statuses.values())
        tally.work.update({f"ended {k}": v for k, v in counts.items()})
        missing = len(ids) - len(statuses)
        stuck = [i for i, s in statuses.items() if not s.is_terminal]
        results: dict[str, tuple[bool, str]] = {
            "every accepted refinement exists (0 lost)": (missing == 0, f"{len(ids)} accepted, {missing} missing"),
            "every refinement terminal": (not stuck, f"{len(stuck)} not terminal after {SETTLE_S:.0f} s"),
        }
        async with db() as session:
            rows = list(await session.scalars(select(Refinement)))
        doubled = 0
        for run_id in {r.run_id for r in rows}:
            entries = [e["job_id"] for e in storage.read_index(run_id).get("refinements", [])]
            doubled += len(entries) - len(set(entries))
            files = [p.name for p in (storage.run_dir(run_id) / "refinements").glob("*.png")]
            per_job = Counter(name.split("_from_")[0] for name in files if "_from_" in name)
            doubled += sum(n - 1 for n in per_job.values() if n > 1)
        results["0 doubled (index entries, result files)"] = (doubled == 0, f"{doubled} doubled")
        report = await fsck.check(db, storage, grace_s=0)
        orphans = report.orphan_files + report.orphan_run_dirs
        results["no orphan file"] = (not orphans, f"{len(orphans)} orphan(s) {orphans[:3]}")
        index_diff = report.missing_index_entries + report.stale_index_entries + report.rows_without_files
        results["refinements.json equals the database"] = (not index_diff, f"{len(index_diff)} difference(s)")
        results["subscribers saw every seq or a clean end"] = _subscriptions_ok(load.subscriptions, statuses)
        results["every error answer coded (0 INTERNAL, 0 client crashes)"] = answers_ok(tally.requests)
        return results
    finally:
        await engine.dispose()
