"""/api/v1: refine, list refinements, cancel, a websocket of stage events, and the OpenAPI document of them."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.schemas import SchemaGenerator
from starlette.websockets import WebSocket, WebSocketDisconnect

from churns_gql import events
from churns_gql.db import Window
from churns_gql.error_codes import ErrorCode
from churns_gql.models import JobStatus, Refinement, StageEvent
from churns_gql.queue import QUEUE_UNAVAILABLE, REFINE_JOB, QueueUnavailable
from churns_gql.rest.forms import pick_parent, problems_body, read_refine_form
from churns_gql.services import lifecycle
from churns_gql.services import refinements as refinement_service
from churns_gql.services import runs as run_service
from churns_gql.services.errors import UserInputError
from churns_gql.services.tokens import AuthRequired, Caller
from churns_gql.services.uow import driver_unit_of_work, unit_of_work

PAGE = 100
# Close code for a job the caller cannot see (the websocket analogue of 404).
WS_NOT_FOUND = 4404

SCHEMA = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {
            "title": "churns-gql REST API",
            "version": "1",
            "description": "The original Churns REST endpoints, over the same services, tokens and limits as /graphql. "
            "Send `Authorization: Bearer <token>` once tokens exist.",
        },
    }
)


def _error(status: int, message: str, code: ErrorCode) -> JSONResponse:
    return JSONResponse({"errors": [{"field": None, "message": message, "code": code.value}]}, status_code=status)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def result_of(row: Refinement, storage: Any) -> dict[str, Any]:
    """The seed's RefinementResult for one refinement row."""
    return {
        "job_id": str(row.id),
        "run_id": str(row.run_id),
        "parent_image_id": str(row.parent_refinement_id or row.parent_image_id),
        "parent_image_type": "refinement" if row.parent_refinement_id else "original",
        "generation_index": row.generation_index,
        "refine_type": row.type.value.lower(),
        "status": row.status.value,
        "version": row.version,
        "prompt": row.prompt,
        "instructions": row.instructions,
        "mask_data": row.mask,
        "creativity_level": row.creativity_level,
        "summary": row.summary,
        "image_url": storage.url(row.run_id, row.image_path),
        "width": row.width,
        "height": row.height,
        "cost_usd": row.cost_usd,
        "error_message": row.error_message,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }


def event_of(row: StageEvent, storage: Any) -> dict[str, Any]:
    """One stage event as the websocket sends it."""
    return {
        "job_id": str(row.job_id),
        "seq": row.seq,
        "stage": row.stage,
        "status": row.status.value,
        "progress": row.progress,
        "message": row.message,
        "cost_usd": row.cost_usd,
        "preview_url": storage.url(row.run_id, row.preview_path),
        "code": row.code,
        "terminal": row.terminal,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def rest_routes(services: Any) -> list[BaseRoute]:
    """The /api/v1 routes over the app's services (mounted by the app)."""

    async def caller_of(authorization: str | None) -> Caller:
        return await services.gate.caller(authorization)

    async def visible_run(caller: Caller, run_id: uuid.UUID | None) -> bool:
        if run_id is None:
            return False
        async with services.db() as session:
            owner = await run_service.run_owner(session, run_id) if not caller.is_open else None
            exists = caller.is_open and await run_service.run_by_id(session, run_id) is not None
        return exists or (owner is not None and owner == caller.token_id)

    async def caller_and_run(request: Request) -> tuple[Caller, uuid.UUID] | Response:
        """The caller and the run of the path, or the 401/404 response when either is missing."""
        try:
            caller = await caller_of(request.headers.get("authorization"))
        except AuthRequired as exc:
            return _error(401, str(exc), ErrorCode.UNAUTHENTICATED)
        run_id = _uuid(request.path_params["run_id"])
        if run_id is None or not await visible_run(caller, run_id):
            return _error(404, "no run with that id", ErrorCode.NOT_FOUND)
        return caller, run_id

    async def refinement_row(job_id: uuid.UUID | None) -> Refinement | None:
        if job_id is None:
            return None
        async with services.db() as session:
            return (await refinement_service.refinements_by_ids(session, [job_id])).get(job_id)

    async def refine(request: Request) -> Response:
        """Queue a refinement of one of the run's images.
        ---
        summary: Queue a refinement (multipart form with the seed's fields)
        parameters: [{name: run_id, in: path, required: true, schema: {type: string, format: uuid}}]
        requestBody:
          content:
            multipart/form-data:
              schema:
                type: object
                required: [refine_type]
                properties:
                  refine_type: {type: string, enum: [subject, text, prompt]}
                  parent_image_type: {type: string, enum: [original, refinement], default: original}
                  parent_image_id: {type: string, description: "a refinement's job_id (parent_image_type=refinement)"}
                  generation_index: {type: integer, default: 0, description: "which original (parent_image_type=original)"}
                  prompt: {type: string}
                  instructions: {type: string}
                  mask_data: {type: string, description: "JSON {x, y, width, height} in fractions 0..1, or a list of them"}
                  creativity_level: {type: integer, minimum: 1, maximum: 3, default: 2}
                  reference_image: {type: string, format: binary}
        responses:
          "201": {description: "Queued", content: {application/json: {example: {job_id: "uuid"}}}}
          "401": {description: "No valid token"}
          "404": {description: "No such run, or a parent not in it"}
          "413": {description: "Request body over the limit"}
          "422": {description: "The form breaks a rule: errors with field, message and code"}
          "503": {description: "The queue is unreachable; the refinement is stored FAILED"}
        """
        found = await caller_and_run(request)
        if isinstance(found, Response):
            return found
        caller, run_id = found
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > services.settings.max_request_bytes:
            return _error(413, "request body over the limit", ErrorCode.TOO_LARGE)
        async with request.form(max_files=1, max_fields=20) as form:
            try:
                fields = read_refine_form(form)
                async with services.db() as session:
                    originals = (await run_service.images_by_run_ids(session, [run_id])).get(run_id, [])
                    parents = await refinement_service.refinements_by_ids(
                        session, [fields.parent_image_id] if fields.parent_image_id else []
                    )
                parent_type, parent_id = pick_parent(fields, run_id, originals, parents)
                req = refinement_service.RefineRequest(
                    parent_type=parent_type,
                    parent_id=parent_id,
                    type=fields.refine_type,
                    prompt=fields.prompt,
                    instructions=fields.instructions,
                    mask=fields.mask,
                    creativity_level=fields.creativity_level,
                    reference_upload=fields.reference_image,
                    owner_token_id=caller.token_id,
                )
                async with driver_unit_of_work(services.db, services.storage) as work:
                    row = await refinement_service.create_refinement(work, services.storage, services.settings, req)
            except UserInputError as exc:
                status = 404 if all(p.code == ErrorCode.NOT_FOUND for p in exc.problems) else 422
                return JSONResponse(problems_body(exc), status_code=status)
        try:
            await services.queue.enqueue(REFINE_JOB, row.id)
        except QueueUnavailable:
            async with unit_of_work(services.db) as uow:
                await lifecycle.fail_unstarted(uow.session, Refinement, row.id, QUEUE_UNAVAILABLE)
            return _error(503, QUEUE_UNAVAILABLE, ErrorCode.UNAVAILABLE)
        return JSONResponse({"job_id": str(row.id)}, status_code=201)

    async def list_refinements(request: Request) -> Response:
        """Every refinement of a run, oldest first.
        ---
        summary: The run's refinements (the seed's RefinementResult fields)
        parameters: [{name: run_id, in: path, required: true, schema: {type: string, format: uuid}}]
        responses:
          "200": {description: "{refinements: [RefinementResult]}"}
          "401": {description: "No valid token"}
          "404": {description: "No such run"}
        """
        found = await caller_and_run(request)
        if isinstance(found, Response):
            return found
        caller, run_id = found
        rows: list[Refinement] = []
        after = None
        async with services.db() as session:
            while True:
                page = await refinement_service.list_run_refinements(
                    session, run_id, window=Window(limit=PAGE, after=after), type=None, status=None
                )
                rows += page.rows
                if not page.has_next:
                    break
                after = (page.rows[-1].created_at, page.rows[-1].id)
        return JSONResponse({"refinements": [result_of(row, services.storage) for row in rows]})

    async def cancel(request: Request) -> Response:
        """Cancel a queued or running refinement.
        ---
        summary: Cancel a refinement
        parameters: [{name: job_id, in: path, required: true, schema: {type: string, format: uuid}}]
        responses:
          "200": {description: "{job_id, status: CANCELLED}"}
          "401": {description: "No valid token"}
          "404": {description: "No such refinement"}
          "409": {description: "Already finished"}
        """
        try:
            caller = await caller_of(request.headers.get("authorization"))
        except AuthRequired as exc:
            return _error(401, str(exc), ErrorCode.UNAUTHENTICATED)
        row = await refinement_row(_uuid(request.path_params["job_id"]))
        if row is None or not await visible_run(caller, row.run_id):
            return _error(404, "no refinement with that id", ErrorCode.NOT_FOUND)
        try:
            async with unit_of_work(services.db) as uow:
                cancelled, previous = await lifecycle.cancel_job(uow.session, Refinement, row.id, "refinement")
        except UserInputError as exc:
            status = 409 if any(p.code == ErrorCode.CONFLICT for p in exc.problems) else 404
            return JSONResponse(problems_body(exc), status_code=status)
        if previous == JobStatus.RUNNING:
            await services.queue.abort(row.id)
        return JSONResponse({"job_id": str(row.id), "status": cancelled.status.value})

    async def progress(websocket: WebSocket) -> None:
        """The job's stage events as JSON messages, recorded ones first; closes after the terminal one."""
        try:
            caller = await caller_of(websocket.headers.get("authorization"))
        except AuthRequired:
            caller = None
        # Accepted before refusing, so clients see the close code and its reason (not a bare HTTP 403).
        await websocket.accept()
        if caller is None:
            await websocket.close(code=4401, reason="Unauthorized: send Authorization: Bearer <token>")
            return
        row = await refinement_row(_uuid(websocket.path_params["job_id"]))
        if row is None or not await visible_run(caller, row.run_id):
            await websocket.close(code=WS_NOT_FOUND, reason="no refinement with that id")
            return
        try:
            async for event in events.follow_job(services.hub, services.db, row.id):
                await websocket.send_json(event_of(event, services.storage))
            await websocket.close()
        except events.EventStreamLost as exc:
            await websocket.close(code=1011, reason=str(exc)[:120])
        except WebSocketDisconnect:
            return

    async def openapi(request: Request) -> Response:
        """The OpenAPI document of these routes."""
        return JSONResponse(SCHEMA.get_schema(routes=request.app.routes))

    routes: list[BaseRoute] = [
        Route("/runs/{run_id}/refine", refine, methods=["POST"]),
        Route("/runs/{run_id}/refinements", list_refinements, methods=["GET"]),
        Route("/refinements/{job_id}/cancel", cancel, methods=["POST"]),
        WebSocketRoute("/ws/{job_id}", progress),
    ]
    return [*routes, Route("/openapi.json", openapi, include_in_schema=False)]
