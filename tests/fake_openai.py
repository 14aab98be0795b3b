"""A fake OpenAI HTTP API on loopback for tests: records requests, checks them like the real API, answers with real PNGs.

Use it as a context manager and point the real SDK at it:

    with FakeOpenAI(api_key="test-key") as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        ...
        edit = fake.last_request("/v1/images/edits")
        edit.field("model"), edit.images[0].image().size, edit.mask

It is STRICT like the real API (rules in tests/fake_openai_rules.py, from the SDK's docs): unknown and
shut-down models get 404 model_not_found; unknown parameters, parameters a model does not take
(input_fidelity on gpt-image-2.x), quality values and sizes outside a model's rules, prompts over
32 000 characters and images over 50 MB (masks over 4 MB) get 400, as do the legacy `style`, a
`moderation` other than low/auto, a transparent JPEG, and `markup` where a model does not take it or
with a mask. Streams send partial images, then `completed` with usage. Like the real API, which only
guides the model with a mask, a masked edit changes the pixels outside the mask too (slightly).

`fake.fail_next(path, status, code=..., message=..., headers=...)` makes the next call to `path` fail
with an OpenAI-shaped error body (e.g. a 500, or a 429 with Retry-After); `fake.delay_next(path, s)`
answers the next call only after `s` seconds (a client timeout meanwhile: the call was still
processed and billed, as on the real API); `fake.respond_next(path, body)` queues any JSON answer;
`fake.stream_error_next(path, code=..., message=...)` breaks the next streamed answer with an
error event. The server runs uvicorn in a background thread, so it serves sync and async tests alike.

Chat completions check a `response_format` of type json_schema with `strict: true` the way the real
API does (every object closed and every property required; 400 otherwise). With
`chat_content=schema_answer` the fake answers each such request with a valid instance of its schema;
`fake.respond_chat_next(content)` scripts the next answer's content (e.g. JSON that breaks the schema).
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import uvicorn

from tests import fake_openai_params as params_mod
from tests import fake_openai_rules as rules
from tests.fake_openai_answers import image_answer
from tests.fake_openai_chat import chat_body, schema_answer, schema_instance, strict_schema_problem
from tests.fake_openai_records import RecordedFile, RecordedRequest, _Queued, error_body
from tests.fake_openai_rules import BadRequest as _BadRequest
from tests.fake_openai_rules import ModelNotFound

__all__ = [
    "CHAT",
    "EDITS",
    "GENERATIONS",
    "FakeOpenAI",
    "chat_body",
    "error_body",
    "schema_answer",
    "schema_instance",
    "strict_schema_problem",
]
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EDITS = "/v1/images/edits"
GENERATIONS = "/v1/images/generations"
CHAT = "/v1/chat/completions"


class FakeOpenAI:
    """A loopback OpenAI API stand-in for tests; see the module docstring for use."""

    def __init__(self, *, api_key: str | None = None, chat_content: str | Callable[[Any], str] = "OK") -> None:
        """A stopped fake; `api_key` set means any other bearer key gets 401, None accepts any key."""
        self.api_key = api_key
        self.chat_content = chat_content
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[_Queued]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._app = Starlette(
            routes=[
                Route(EDITS, self._images_edits, methods=["POST"]),
                Route(GENERATIONS, self._images_generations, methods=["POST"]),
                Route(CHAT, self._chat_completions, methods=["POST"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ]
        )

    # Lifecycle

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as base_url, ending in /v1."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> FakeOpenAI:
        """Serve on a free loopback port in a background thread; returns self once it accepts requests."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, loop="asyncio", http="h11", lifespan="off", log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("FakeOpenAI did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    # Scripting

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next request to `path` with HTTP `status` and an OpenAI error body (or `body`)."""
        payload = body if body is not None else error_body(status, message=message, code=code)
        self._enqueue(path, _Queued(status=status, body=payload, headers=headers or {}))

    def respond_next(self, path: str, body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer the next request to `path` with this JSON `body` instead of the usual answer."""
        self._enqueue(path, _Queued(status=status, body=body, headers=headers or {}))

    def stream_error_next(
        self, path: str, *, code: str | None = None, message: str = "Stream failed.", after_partials: int = 1
    ) -> None:
        """Break the next streamed answer to `path` with an error event after `after_partials` partials."""
        error = error_body(500, message=message, code=code)["error"]
        self._enqueue(
            path, _Queued(status=200, body=None, headers={}, stream_error=error, after_partials=after_partials)
        )

    def delay_next(self, path: str, seconds: float) -> None:
        """Answer the next request to `path` normally, but only after `seconds`."""
        self._enqueue(path, _Queued(status=200, body=None, headers={}, delay_s=seconds))

    def respond_chat_next(self, content: str) -> None:
        """Answer the next chat completion with `content` (usage included), whatever was asked."""
        self.respond_next(CHAT, chat_body(content))

    def chat_requests(self, schema_name: str | None = None) -> list[RecordedRequest]:
        """Chat requests, oldest first; with `schema_name`, only those asking for that json_schema."""
        found = self.requests_to(CHAT)
        if schema_name is None:
            return found
        return [
            r
            for r in found
            if ((r.json or {}).get("response_format") or {}).get("json_schema", {}).get("name") == schema_name
        ]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Every recorded request to `path`, oldest first."""
        return [r for r in self.requests if r.path == path]

    def last_request(self, path: str | None = None) -> RecordedRequest:
        """The newest recorded request (to `path` if given); raises AssertionError when there is none."""
        matching = self.requests_to(path) if path else self.requests
        assert matching, f"no request to {path or 'any path'} was recorded"
        return matching[-1]

    def _enqueue(self, path: str, item: _Queued) -> None:
        """Queue a scripted answer for `path`."""
        with self._lock:
            self._queues[self._normalise(path)].append(item)

    def _dequeue(self, path: str) -> _Queued | None:
        """The next scripted answer for `path`, if any."""
        with self._lock:
            queue = self._queues.get(path)
            return queue.popleft() if queue else None

    @staticmethod
    def _normalise(path: str) -> str:
        """`path` with a leading /v1, as the SDK sends it."""
        path = "/" + path.lstrip("/")
        return path if path.startswith("/v1/") else "/v1" + path

    # Request handling

    async def _record(self, request: Request) -> RecordedRequest:
        """Parse the request body and append the request to `requests`."""
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
        )
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_part_size=64 * 1024 * 1024)
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    recorded.files.append(RecordedFile(name, value.filename, value.content_type, await value.read()))
                else:
                    recorded.fields.setdefault(name, []).append(value)
            await form.close()
        else:
            raw = await request.body()
            if raw:
                try:
                    recorded.json = json.loads(raw)
                except ValueError:
                    recorded.json = None
        self.requests.append(recorded)
        return recorded

    def _pre_checks(self, recorded: RecordedRequest) -> Response | _Queued | None:
        """A queued answer, or a 401 for a missing or wrong key; None to carry on."""
        queued = self._dequeue(recorded.path)
        if queued is not None and queued.stream_error is None and not queued.delay_s:
            return JSONResponse(queued.body, status_code=queued.status, headers=queued.headers)
        auth = recorded.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return JSONResponse(
                error_body(
                    401,
                    message="You didn't provide an API key. Provide it in an Authorization header (Bearer).",
                    code=None,
                ),
                status_code=401,
            )
        if self.api_key is not None and auth[7:] != self.api_key:
            return JSONResponse(error_body(401), status_code=401)
        return queued

    @staticmethod
    def _bad_request(exc: _BadRequest) -> JSONResponse:
        """A 400 answer for `exc`."""
        return JSONResponse(error_body(400, message=exc.message, code=exc.code, param=exc.param), status_code=400)

    async def _not_found(self, request: Request) -> Response:
        """A 404 for any path the fake does not serve."""
        await self._record(request)
        return JSONResponse(
            error_body(404, message=f"Invalid URL ({request.method} {request.url.path})", code=None), status_code=404
        )

    async def _images_edits(self, request: Request) -> Response:
        """POST /v1/images/edits."""
        recorded = await self._record(request)
        pre = self._pre_checks(recorded)
        if isinstance(pre, Response):
            return pre
        try:
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                raise _BadRequest("Image edits take multipart/form-data.", code="invalid_request_error")
            params = params_mod.edit_params(recorded)
        except _BadRequest as exc:
            return self._bad_request(exc)
        except ModelNotFound as exc:
            return self._model_not_found(exc)
        return await self._answer_after_delay("image_edit", params, pre, recorded)

    async def _answer_after_delay(
        self, prefix: str, params: dict[str, Any], queued: _Queued | None, recorded: RecordedRequest
    ) -> Response:
        """The image answer, after a scripted delay (the request counts as processed either way)."""
        if queued is not None and queued.delay_s:
            recorded.response_usage = params_mod.usage(params, with_output_details=not params["stream"])
            await asyncio.sleep(queued.delay_s)
        return image_answer(prefix, params, queued, recorded)

    @staticmethod
    def _model_not_found(exc: ModelNotFound) -> JSONResponse:
        """The 404 model_not_found answer."""
        return JSONResponse(error_body(404, message=str(exc), code="model_not_found", param="model"), status_code=404)

    async def _images_generations(self, request: Request) -> Response:
        """POST /v1/images/generations."""
        recorded = await self._record(request)
        pre = self._pre_checks(recorded)
        if isinstance(pre, Response):
            return pre
        body = recorded.json
        try:
            if not isinstance(body, dict):
                raise _BadRequest("The request body must be a JSON object.", code="invalid_request_error")
            rules.check_known(set(body), rules.GENERATE_PARAMETERS)
            prompt = rules.check_prompt(body.get("prompt"))
            if not body.get("model"):
                raise _BadRequest(
                    "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
                )
            params = params_mod.common_params(body, str(body["model"]), str(prompt), [], None)
        except _BadRequest as exc:
            return self._bad_request(exc)
        except ModelNotFound as exc:
            return self._model_not_found(exc)
        return await self._answer_after_delay("image_generation", params, pre, recorded)

    async def _chat_completions(self, request: Request) -> Response:
        """POST /v1/chat/completions, answering with `chat_content`."""
        recorded = await self._record(request)
        pre = self._pre_checks(recorded)
        if isinstance(pre, Response):
            return pre
        body = recorded.json
        if not isinstance(body, dict) or not body.get("model"):
            return self._bad_request(
                _BadRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
            )
        try:
            rules.check_chat_model(str(body["model"]))
        except ModelNotFound as exc:
            return self._model_not_found(exc)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad_request(
                _BadRequest(
                    "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
                )
            )
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            if not spec.get("name") or not isinstance(spec.get("schema"), dict):
                return self._bad_request(
                    _BadRequest(
                        "Missing required parameter: 'response_format.json_schema.name'.",
                        param="response_format",
                        code="missing_required_parameter",
                    )
                )
            problem = strict_schema_problem(spec["schema"]) if spec.get("strict") else None
            if problem:
                return self._bad_request(
                    _BadRequest(
                        f"Invalid schema for response_format '{spec['name']}': {problem}",
                        param="response_format",
                        code="invalid_json_schema",
                    )
                )
        content = self.chat_content(body) if callable(self.chat_content) else self.chat_content
        prompt_tokens = max(1, math.ceil(len(json.dumps(messages)) / 4))
        answer = chat_body(content, body["model"], prompt_tokens, answer_id=f"chatcmpl-fake{len(self.requests)}")
        recorded.response_usage = answer["usage"]
        return JSONResponse(answer)
