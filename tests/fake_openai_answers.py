"""The fake OpenAI server's image answers: JSON with the image and usage, or a stream of partial images."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from PIL import ImageFilter
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests import fake_openai_params as params_mod
from tests.fake_openai_records import _OUTPUT_FORMATS, RecordedRequest, _edited, _generated, _png_b64, _Queued


def image_answer(prefix: str, params: dict[str, Any], queued: _Queued | None, recorded: RecordedRequest) -> Response:
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
        recorded.response_usage = params_mod.usage(params, with_output_details=True)
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
    recorded.response_usage = None if stream_fails else params_mod.usage(params, with_output_details=False)
    common = {
        "created_at": created,
        "size": size_text,
        "quality": quality,
        "background": background,
        "output_format": params["output_format"],
    }

    async def events() -> AsyncIterator[bytes]:
        """Partial-image events, then the completed event (or an error event)."""
        count = params["partial_images"]
        for index in range(count):
            if stream_fails and index == queued.after_partials:
                break
            # Earlier partials are blurrier, as the real ones are rougher.
            partial = final.filter(ImageFilter.GaussianBlur(radius=8 * (count - index)))
            event = {
                "type": f"{prefix}.partial_image",
                "b64_json": _png_b64(partial, fmt),
                "partial_image_index": index,
                **common,
            }
            yield _sse(event["type"], event)
            await asyncio.sleep(0)
        if stream_fails:
            yield _sse("error", {"type": "error", "error": queued.stream_error})
            return
        event = {
            "type": f"{prefix}.completed",
            "b64_json": _png_b64(final, fmt),
            **common,
            "usage": recorded.response_usage,
        }
        yield _sse(event["type"], event)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
