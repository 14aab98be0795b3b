"""PipelineExecutor: runs a mode's stages from configs/stage_order.yml, with events and cancellation."""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import yaml

from churns_gql.models import JobStatus, Refinement, Run, StageStatus
from churns_gql.pipeline.context import JobCancelled, PipelineContext, StageFailed
from churns_gql.providers.base import ProviderError
from churns_gql.services import lifecycle
from churns_gql.services.health import is_disk_full
from churns_gql.services.uow import unit_of_work

log = logging.getLogger("churns_gql.pipeline")

CONDITIONAL = "conditional_stage"
# A stage that could not write for lack of room fails with this, not as an unexpected error.
DISK_FULL = "the server's storage is full; try again later"


@lru_cache(maxsize=8)
def load_stage_order(path: Path) -> dict[str, list[str]]:
    """The stage lists per mode, read once per file."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path} must map each mode to a list of stage names")
    return {mode: [str(s) for s in stages] for mode, stages in data.items()}


def _stage_module(name: str) -> ModuleType:
    return importlib.import_module(f"churns_gql.pipeline.stages.{name}")


class PipelineExecutor:
    """Runs the stages of one mode ("generation" or "refinement") for a job."""

    def __init__(self, mode: str, stage_order: Path) -> None:
        order = load_stage_order(stage_order)
        if mode not in order:
            raise ValueError(f"{stage_order} has no {mode!r} mode")
        self.mode = mode
        self.stages = order[mode]

    def resolve(self, ctx: PipelineContext) -> list[str]:
        """The concrete stage names for this job: conditional_stage becomes the refinement type's stage."""
        return self.stage_names(ctx.refinement)

    def stage_names(self, refinement: Refinement | None) -> list[str]:
        """The concrete stage names for a job (a refinement's, or a generation's with None)."""
        names = []
        for name in self.stages:
            if name == CONDITIONAL:
                if refinement is None:
                    raise ValueError("conditional_stage needs a refinement")
                name = refinement.type.stage
            names.append(name)
        return names

    def first_stage(self, row: Refinement | Run) -> str:
        """The name of a job's first stage, given its row (a refinement's type may choose it)."""
        return self.stage_names(row if isinstance(row, Refinement) else None)[0]

    async def run(self, ctx: PipelineContext, *, opened: bool = False) -> JobStatus | None:
        """Run every stage, then complete the job; returns the final status, or None if it had ended.

        `opened`: the first stage's RUNNING event was written with the job's start (`lifecycle.start_job`). Each
        later stage's RUNNING event is written with the COMPLETED event of the stage before it.
        """
        names = self.resolve(ctx)
        modules = [_stage_module(n) for n in names]
        total = len(names)
        for index, (name, module) in enumerate(zip(names, modules, strict=True)):
            ctx.current_stage, ctx.progress, ctx.stage_cost = name, index / total, None
            if index == 0 and not opened:
                await ctx.publish(StageStatus.RUNNING, "started")
            started = time.monotonic()
            try:
                message = await module.run(ctx)
            except JobCancelled:
                raise
            except ProviderError as exc:
                raise StageFailed(name, exc.message, exc.code) from exc
            except StageFailed:
                raise
            except Exception as exc:
                if is_disk_full(exc):  # not a bug: say what the client can do about it
                    log.warning("stage %s of job %s: the data disk is full", name, ctx.job_id)
                    raise StageFailed(name, DISK_FULL, "storage_full") from exc
                error_id = uuid.uuid4().hex[:12]
                log.exception("stage %s of job %s failed unexpectedly (%s)", name, ctx.job_id, error_id)
                raise StageFailed(name, f"{name} failed unexpectedly (error {error_id})") from exc
            ctx.progress = (index + 1) / total
            log.info("job %s stage %s done in %.0f ms", ctx.job_id, name, (time.monotonic() - started) * 1000)
            if index + 1 < total:
                await ctx.publish(StageStatus.COMPLETED, message, cost_usd=ctx.stage_cost, next_stage=names[index + 1])
            else:
                return await self._complete(ctx, name, message)
        return None

    async def _complete(self, ctx: PipelineContext, stage: str, message: str | None) -> JobStatus | None:
        async with unit_of_work(ctx.services.db) as uow:
            row = await lifecycle.finish_job(
                uow.session,
                ctx.job_model,
                ctx.job_id,
                JobStatus.COMPLETED,
                message="completed",
                progress=1.0,
                fields=ctx.completion,
                writes=ctx.completion_writes,
                stage_event={
                    "stage": stage,
                    "status": StageStatus.COMPLETED,
                    "progress": 1.0,
                    "message": message,
                    "cost_usd": ctx.stage_cost,
                },
            )
        if row is None:
            raise JobCancelled()
        # Committed: the rows now point at the job's files, which therefore stay.
        ctx.files.keep()
        for hook in ctx.after_commit:
            await hook()
        return JobStatus.COMPLETED

    async def fail(self, ctx: PipelineContext, failure: StageFailed) -> bool:
        """End the job FAILED with the stage's message; False if it had already ended."""
        async with unit_of_work(ctx.services.db) as uow:
            row = await lifecycle.finish_job(
                uow.session,
                ctx.job_model,
                ctx.job_id,
                JobStatus.FAILED,
                message=failure.message,
                progress=ctx.progress,
                code=failure.code,
                fields={"cost_usd": ctx.spent_cost()} if ctx.refinement is not None else None,
                stage_event={
                    "stage": failure.stage,
                    "status": StageStatus.FAILED,
                    "progress": ctx.progress,
                    "message": failure.message,
                    "code": failure.code,
                },
            )
        return row is not None
