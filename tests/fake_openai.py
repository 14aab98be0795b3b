"""A fake OpenAI HTTP API on loopback for tests: records requests, checks them like the real API, answers with real PNGs.

Use it as a context manager and point the real SDK at it:

    with FakeOpenAI(api_key="test-key") as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        ...
        edit = fake.last_request("/v1/images/edits")
        edit.field("model"), edit.images[0].image().size, edit.mask

`fake.fail_next(path, status, code=..., message=...)` makes the next call to `path` fail with an
OpenAI-shaped error body; `fake.respond_next(path, body)` queues any JSON answer;
`fake.stream_error_next(path, code=..., message=...)` breaks the next streamed answer with an
error event. The server runs uvicorn in a background thread, so it serves sync and async tests alike.

Chat completions check a `response_format` of type json_schema with `strict: true` the way the real
API does (every object closed and every property required; 400 otherwise). With
`chat_content=schema_answer` the fake answers each such request with a valid instance of its schema;
`fake.respond_chat_next(content)` scripts the next answer's content (e.g. JSON that breaks the schema).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, AsyncIterator, Callable

import uvicorn
from PIL import Image, ImageFilter, ImageOps
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

EDITS = "/v1/images/edits"
GENERATIONS = "/v1/images/generations"
CHAT = "/v1/chat/completions"

STANDARD_SIZES = {"1024x1024": (1024, 1024), "1536x1024": (1536, 1024), "1024x1536": (1024, 1536)}
_IMAGE_MIME_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_QUALITIES = {"low", "medium", "high", "auto"}
_OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Output image tokens GPT Image models bill per quality and size (square, then landscape/portrait).
_OUTPUT_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240), "auto": (1056, 1584)}
_PARTIAL_IMAGE_TOKENS = 100

_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to use this model.", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it.", "model_not_found"),
    429: ("requests", "Rate limit reached for requests. Please try again in 20s.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request.", None),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    def image(self) -> Image.Image:
        """The part decoded as a Pillow image."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


@dataclass
class RecordedRequest:
    """One request the fake received: path, headers, and its parsed form or JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    fields: dict[str, list[str]] = dc_field(default_factory=dict)
    files: list[RecordedFile] = dc_field(default_factory=list)
    json: Any = None
    # The usage block the fake answered with, so tests can price exactly what was reported.
    response_usage: dict[str, Any] | None = None

    def field(self, name: str, default: str | None = None) -> str | None:
        """The first value of form field `name`, or `default`."""
        values = self.fields.get(name)
        return values[0] if values else default

    def files_named(self, name: str) -> list[RecordedFile]:
        """File parts sent as `name` or as the array form `name[]`, in order."""
        return [f for f in self.files if f.field in (name, f"{name}[]")]

    @property
    def images(self) -> list[RecordedFile]:
        """The `image` parts, in order."""
        return self.files_named("image")

    @property
    def mask(self) -> RecordedFile | None:
        """The `mask` part, if sent."""
        masks = self.files_named("mask")
        return masks[0] if masks else None


@dataclass
class _Queued:
    """A scripted answer for the next request to one path."""

    status: int
    body: Any
    headers: dict[str, str]
    stream_error: dict[str, Any] | None = None
    after_partials: int = 0


class _BadRequest(Exception):
    """A request the real API would refuse with 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value") -> None:
        """Keep the message, the offending parameter and the error code."""
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def error_body(status: int, message: str | None = None, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body for `status`, with defaults like the real API's."""
    err_type, default_message, default_code = _DEFAULT_ERRORS.get(status, ("invalid_request_error", f"HTTP {status}", None))
    return {
        "error": {
            "message": message if message is not None else default_message,
            "type": err_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def _png_b64(image: Image.Image, fmt: str = "PNG") -> str:
    """`image` encoded in `fmt` and base64."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _input_image_tokens(width: int, height: int) -> int:
    """Input image tokens by the tile rule: fit in 2048², shortest side 768, 85 + 170 per 512px tile."""
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = 768 / min(width, height)
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def _output_tokens(quality: str, size: tuple[int, int]) -> int:
    """Output image tokens for a quality and size."""
    square, oblong = _OUTPUT_TOKENS.get(quality, _OUTPUT_TOKENS["auto"])
    return square if size[0] == size[1] else oblong


def _nearest_size(width: int, height: int) -> tuple[int, int]:
    """The standard size nearest width:height."""
    aspect = math.log(width / height)
    return min(STANDARD_SIZES.values(), key=lambda s: abs(math.log(s[0] / s[1]) - aspect))


def _parse_size(value: str | None, first: Image.Image | None) -> tuple[int, int]:
    """The requested size as (width, height), `auto` resolved from the first image."""
    if value in (None, "", "auto"):
        return _nearest_size(*first.size) if first is not None else (1024, 1024)
    if value not in STANDARD_SIZES:
        raise _BadRequest(
            f"Invalid value: '{value}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
            param="size",
        )
    return STANDARD_SIZES[value]


def _edited(first: Image.Image, size: tuple[int, int], mask: Image.Image | None) -> Image.Image:
    """The deterministic "edit": colours inverted where the mask is transparent (everywhere without one)."""
    base = first.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    inverted = ImageOps.invert(base)
    if mask is None:
        return inverted
    editable = mask.convert("RGBA").getchannel("A").resize(size, Image.Resampling.NEAREST).point(lambda a: 255 if a == 0 else 0)
    return Image.composite(inverted, base, editable)


def _generated(prompt: str, size: tuple[int, int]) -> Image.Image:
    """A deterministic image for a generation prompt: a two-colour gradient seeded by the prompt."""
    digest = hashlib.sha256(prompt.encode()).digest()
    left = Image.new("RGB", size, tuple(digest[0:3]))
    right = Image.new("RGB", size, tuple(digest[3:6]))
    ramp = Image.linear_gradient("L").resize(size)
    return Image.composite(right, left, ramp)


def strict_schema_problem(schema: Any, path: str = "schema") -> str | None:
    """Why a strict json_schema would be refused by the real API, or None when it is acceptable."""
    if not isinstance(schema, dict):
        return None
    types = schema.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In {path}: 'additionalProperties' is required to be supplied and to be false."
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return f"In {path}: 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'."
        for key, sub in properties.items():
            problem = strict_schema_problem(sub, f"{path}.{key}")
            if problem:
                return problem
    if "items" in schema:
        return strict_schema_problem(schema["items"], f"{path}[]")
    return None


def schema_instance(schema: dict[str, Any], key: str = "value", index: int = 0) -> Any:
    """A deterministic value that fits `schema` (arrays get 4 items): what the fake answers with."""
    types = schema.get("type")
    kind = types if isinstance(types, str) else next(t for t in types if t != "null")
    if "enum" in schema:
        return schema["enum"][index % len(schema["enum"])]
    if kind == "object":
        return {k: schema_instance(sub, k, index) for k, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [schema_instance(schema["items"], key, i) for i in range(4)]
    if kind == "integer" or kind == "number":
        return max(schema.get("minimum", 0), min(schema.get("maximum", 4), 4))
    if kind == "boolean":
        return False
    if schema.get("pattern", "").startswith("^#"):
        return "#{:02X}{:02X}{:02X}".format(40 + 50 * index, 90, 160 - 30 * index)
    return f"{key.replace('_', ' ')} {index + 1}"


def schema_answer(body: dict[str, Any]) -> str:
    """A chat answer for `body`: a valid instance of its json_schema response format, or "OK"."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return "OK"
    return json.dumps(schema_instance(response_format["json_schema"]["schema"]))


def chat_body(content: str, model: str = "gpt-4.1-mini", prompt_tokens: int = 100,
              answer_id: str = "chatcmpl-scripted") -> dict[str, Any]:
    """A complete chat.completion answer carrying `content`, with usage; what the fake answers chat with."""
    completion_tokens = max(1, math.ceil(len(content) / 4))
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


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
        config = uvicorn.Config(self._app, loop="asyncio", http="h11", lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True)
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

    def stream_error_next(self, path: str, *, code: str | None = None, message: str = "Stream failed.", after_partials: int = 1) -> None:
        """Break the next streamed answer to `path` with an error event after `after_partials` partials."""
        error = error_body(500, message=message, code=code)["error"]
        self._enqueue(path, _Queued(status=200, body=None, headers={}, stream_error=error, after_partials=after_partials))

    def respond_chat_next(self, content: str) -> None:
        """Answer the next chat completion with `content` (usage included), whatever was asked."""
        self.respond_next(CHAT, chat_body(content))

    def chat_requests(self, schema_name: str | None = None) -> list[RecordedRequest]:
        """Chat requests, oldest first; with `schema_name`, only those asking for that json_schema."""
        found = self.requests_to(CHAT)
        if schema_name is None:
            return found
        return [r for r in found
                if ((r.json or {}).get("response_format") or {}).get("json_schema", {}).get("name") == schema_name]

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
        if queued is not None and queued.stream_error is None:
            return JSONResponse(queued.body, status_code=queued.status, headers=queued.headers)
        auth = recorded.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return JSONResponse(
                error_body(401, message="You didn't provide an API key. Provide it in an Authorization header (Bearer).", code=None),
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
        return JSONResponse(error_body(404, message=f"Invalid URL ({request.method} {request.url.path})", code=None), status_code=404)

    async def _images_edits(self, request: Request) -> Response:
        """POST /v1/images/edits."""
        recorded = await self._record(request)
        pre = self._pre_checks(recorded)
        if isinstance(pre, Response):
            return pre
        try:
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                raise _BadRequest("Image edits take multipart/form-data.", code="invalid_request_error")
            params = self._edit_params(recorded)
        except _BadRequest as exc:
            return self._bad_request(exc)
        return self._image_answer("image_edit", params, pre, recorded)

    def _edit_params(self, recorded: RecordedRequest) -> dict[str, Any]:
        """The checked parameters of an edit request, raising _BadRequest as the real API would."""
        model = recorded.field("model")
        if not model:
            raise _BadRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        prompt = recorded.field("prompt")
        if not prompt:
            raise _BadRequest("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
        parts = recorded.images
        if not parts:
            raise _BadRequest("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
        if len(parts) > 16:
            raise _BadRequest("Too many images: at most 16 may be given.", param="image")
        images = [self._checked_image(part, f"image {i + 1}") for i, part in enumerate(parts)]
        mask = None
        if recorded.mask is not None:
            mask_part = recorded.mask
            if mask_part.content_type != "image/png":
                raise _BadRequest("Invalid mask image format - mask must be a PNG.", param="mask", code="invalid_image_format")
            mask = self._checked_image(mask_part, "mask")
            if mask.format != "PNG":
                raise _BadRequest("Invalid mask image format - mask must be a PNG.", param="mask", code="invalid_image_format")
            if "A" not in mask.getbands():
                raise _BadRequest("Invalid mask image format - mask image missing alpha channel.", param="mask", code="invalid_image_format")
            if mask.size != images[0].size:
                raise _BadRequest(
                    f"Invalid mask image size - mask {mask.size[0]}x{mask.size[1]} does not match image "
                    f"{images[0].size[0]}x{images[0].size[1]}.",
                    param="mask",
                    code="invalid_image_dimensions",
                )
        return self._common_params(recorded.fields, model, prompt, images, mask)

    @staticmethod
    def _checked_image(part: RecordedFile, label: str) -> Image.Image:
        """The decoded image of `part`, refusing bad types or data as the real API does."""
        param = "mask" if label == "mask" else "image"
        if part.content_type not in _IMAGE_MIME_TYPES:
            raise _BadRequest(
                f"Invalid file '{param}': unsupported mimetype ('{part.content_type}'). "
                "Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                param=param,
                code="unsupported_file_mimetype",
            )
        try:
            image = part.image()
        except Exception:
            raise _BadRequest(f"Invalid image file or mode for {label}, please check your image file.", param=param, code="invalid_image_file") from None
        if image.format != _IMAGE_MIME_TYPES[part.content_type]:
            raise _BadRequest(f"The {label} is {image.format} but was sent as {part.content_type}.", param=param, code="invalid_image_file")
        return image

    @staticmethod
    def _common_params(
        values: dict[str, Any], model: str, prompt: str, images: list[Image.Image], mask: Image.Image | None
    ) -> dict[str, Any]:
        """Checked model, prompt, size, quality, format and streaming options shared by edits and generations."""

        def first(name: str) -> Any:
            """The first value of `name`, whether form fields (lists) or JSON (scalars)."""
            value = values.get(name)
            return value[0] if isinstance(value, list) and value else value

        quality = str(first("quality") or "auto")
        if quality not in _QUALITIES:
            raise _BadRequest(f"Invalid value: '{quality}'. Supported values are: 'low', 'medium', 'high', and 'auto'.", param="quality")
        fidelity = first("input_fidelity")
        if fidelity is not None and fidelity not in ("high", "low"):
            raise _BadRequest(f"Invalid value: '{fidelity}'. Supported values are: 'high' and 'low'.", param="input_fidelity")
        output_format = str(first("output_format") or "png")
        if output_format not in _OUTPUT_FORMATS:
            raise _BadRequest(f"Invalid value: '{output_format}'. Supported values are: 'png', 'jpeg', and 'webp'.", param="output_format")
        try:
            n = int(first("n") or 1)
            partial_images = int(first("partial_images") or 0)
        except (TypeError, ValueError):
            raise _BadRequest("n and partial_images must be integers.", param="n") from None
        if not 1 <= n <= 10:
            raise _BadRequest(f"Invalid 'n': {n}. Must be between 1 and 10.", param="n")
        if not 0 <= partial_images <= 3:
            raise _BadRequest(f"Invalid 'partial_images': {partial_images}. Must be between 0 and 3.", param="partial_images")
        stream = str(first("stream")).lower() in ("true", "1")
        background = str(first("background") or "auto")
        size = _parse_size(first("size"), images[0] if images else None)
        return {
            "model": model,
            "prompt": prompt,
            "images": images,
            "mask": mask,
            "size": size,
            "quality": quality,
            "input_fidelity": fidelity,
            "output_format": output_format,
            "n": n,
            "partial_images": partial_images,
            "stream": stream,
            "background": background,
        }

    def _usage(self, params: dict[str, Any], with_output_details: bool) -> dict[str, Any]:
        """A usage block for the call, priced the way GPT Image models count tokens."""
        text_tokens = max(1, math.ceil(len(params["prompt"]) / 4))
        image_tokens = sum(_input_image_tokens(*img.size) for img in params["images"])
        output_tokens = _output_tokens(params["quality"], params["size"]) * params["n"]
        output_tokens += _PARTIAL_IMAGE_TOKENS * (params["partial_images"] if params["stream"] else 0)
        usage: dict[str, Any] = {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": output_tokens,
            "total_tokens": text_tokens + image_tokens + output_tokens,
        }
        if with_output_details:
            usage["output_tokens_details"] = {"image_tokens": output_tokens, "text_tokens": 0}
        return usage

    def _image_answer(self, prefix: str, params: dict[str, Any], queued: _Queued | None, recorded: RecordedRequest) -> Response:
        """The JSON or SSE answer carrying the "edited" or generated image and its usage."""
        if params["images"]:
            final = _edited(params["images"][0], params["size"], params["mask"])
        else:
            final = _generated(params["prompt"], params["size"])
        fmt = _OUTPUT_FORMATS[params["output_format"]]
        background = params["background"] if params["background"] != "auto" else "opaque"
        quality = params["quality"] if params["quality"] != "auto" else "medium"
        size_text = f"{params['size'][0]}x{params['size'][1]}"
        created = int(time.time())
        if not params["stream"]:
            recorded.response_usage = self._usage(params, with_output_details=True)
            return JSONResponse(
                {
                    "created": created,
                    "background": background,
                    "data": [{"b64_json": _png_b64(final, fmt)} for _ in range(params["n"])],
                    "output_format": params["output_format"],
                    "quality": quality,
                    "size": size_text,
                    "usage": recorded.response_usage,
                }
            )
        stream_fails = queued is not None and queued.stream_error is not None
        recorded.response_usage = None if stream_fails else self._usage(params, with_output_details=False)
        common = {"created_at": created, "size": size_text, "quality": quality, "background": background, "output_format": params["output_format"]}

        async def events() -> AsyncIterator[bytes]:
            """Partial-image events, then the completed event (or an error event)."""
            count = params["partial_images"]
            for index in range(count):
                if stream_fails and index == queued.after_partials:
                    break
                # Earlier partials are blurrier, as the real ones are rougher.
                partial = final.filter(ImageFilter.GaussianBlur(radius=8 * (count - index)))
                event = {"type": f"{prefix}.partial_image", "b64_json": _png_b64(partial, fmt), "partial_image_index": index, **common}
                yield self._sse(event["type"], event)
                await asyncio.sleep(0)
            if stream_fails:
                yield self._sse("error", {"type": "error", "error": queued.stream_error})
                return
            event = {"type": f"{prefix}.completed", "b64_json": _png_b64(final, fmt), **common, "usage": recorded.response_usage}
            yield self._sse(event["type"], event)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @staticmethod
    def _sse(event: str, data: dict[str, Any]) -> bytes:
        """One server-sent event."""
        return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()

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
            if not body.get("prompt"):
                raise _BadRequest("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
            model = body.get("model") or "gpt-image-1"
            params = self._common_params(body, model, str(body["prompt"]), [], None)
        except _BadRequest as exc:
            return self._bad_request(exc)
        return self._image_answer("image_generation", params, pre, recorded)

    async def _chat_completions(self, request: Request) -> Response:
        """POST /v1/chat/completions, answering with `chat_content`."""
        recorded = await self._record(request)
        pre = self._pre_checks(recorded)
        if isinstance(pre, Response):
            return pre
        body = recorded.json
        if not isinstance(body, dict) or not body.get("model"):
            return self._bad_request(_BadRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad_request(_BadRequest("Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"))
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            if not spec.get("name") or not isinstance(spec.get("schema"), dict):
                return self._bad_request(_BadRequest("Missing required parameter: 'response_format.json_schema.name'.",
                                                     param="response_format", code="missing_required_parameter"))
            problem = strict_schema_problem(spec["schema"]) if spec.get("strict") else None
            if problem:
                return self._bad_request(_BadRequest(f"Invalid schema for response_format '{spec['name']}': {problem}",
                                                     param="response_format", code="invalid_json_schema"))
        content = self.chat_content(body) if callable(self.chat_content) else self.chat_content
        prompt_tokens = max(1, math.ceil(len(json.dumps(messages)) / 4))
        answer = chat_body(content, body["model"], prompt_tokens, answer_id=f"chatcmpl-fake{len(self.requests)}")
        recorded.response_usage = answer["usage"]
        return JSONResponse(answer)
