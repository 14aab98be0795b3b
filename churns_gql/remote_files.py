"""`/files` for run files in a bucket: streamed through the API with an ETag, thumbnails cached in the bucket.

Local files go out as FileResponse (thumbnails.file_response); a bucket's objects are streamed rather than
redirected to a presigned URL, because the store's endpoint (MinIO on a private network) need not be
reachable from the browser, and the caller's token is checked on every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from email.utils import formatdate
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from churns_gql import thumbnails
from churns_gql.blob_store import BlobInfo, BlobStore, Opened

_slots: dict[int, asyncio.Semaphore] = {}


def thumb_key(key: str, info: BlobInfo, width: int) -> str:
    """Where the derivative of this version of `key` at `width` lives: the run folder's `.thumbs/`."""
    run_folder = "/".join(key.split("/")[:2])
    digest = hashlib.sha256(f"{key}\n{info.etag}\n{info.size}\n{width}".encode()).hexdigest()[:32]
    return f"{run_folder}/{thumbnails.CACHE_DIR}/{digest}.webp"


def _render(store: BlobStore, key: str, target_key: str, width: int) -> BlobInfo | None:
    """Download, scale and upload one derivative; None when the source is not a wider picture."""
    with tempfile.TemporaryDirectory(prefix="churns-thumb-") as folder:
        source, target = Path(folder, "source"), Path(folder, "thumb.webp")
        source.write_bytes(store.read(key))
        if not thumbnails.render(source, target, width):
            return None
        store.write(target_key, target.read_bytes())
    made = store.info(target_key)
    _trim(store, target_key)
    return made


def _trim(store: BlobStore, target_key: str) -> None:
    """Keep the run's derivatives in the bucket within their bound (oldest written go first)."""
    folder = target_key.rsplit("/", 1)[0]
    entries = [(info.key, info.size, info.mtime) for info in store.list(folder)]
    for key in thumbnails.evictions(entries, target_key, thumbnails.MAX_CACHE_BYTES_PER_RUN):
        store.delete(key)


async def _derivative(store: BlobStore, key: str, info: BlobInfo, width: int) -> tuple[str, BlobInfo] | None:
    """The cached derivative of `key` at `width`, made now if missing; None to serve the source."""
    target = thumb_key(key, info, width)
    found = await asyncio.to_thread(store.info, target)
    if found is None:
        slots = _slots.setdefault(id(asyncio.get_running_loop()), asyncio.Semaphore(thumbnails.MAX_CONCURRENT))
        async with slots:
            found = await asyncio.to_thread(store.info, target) or await asyncio.to_thread(
                _render, store, key, target, width
            )
    return None if found is None else (target, found)


async def object_response(
    request: Request, store: BlobStore, key: str, media_type: str, headers: dict[str, str]
) -> Response | None:
    """Stream `key` (or with `?w=` its resized copy); 304 on a matching If-None-Match; None when it is missing."""
    raw = request.query_params.get("w")
    if raw is not None and media_type.startswith("image/"):
        try:
            width = thumbnails.snap_width(raw)
        except thumbnails.BadWidth as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        info = await asyncio.to_thread(store.info, key)
        made = await _derivative(store, key, info, width) if info is not None else None
        if made is not None:
            key, media_type = made[0], "image/webp"
    opened = await store.open(key)
    if opened is None:
        return None
    try:
        return _send(request, opened, media_type, headers)
    except BaseException:
        await opened.close()
        raise


def _send(request: Request, opened: Opened, media_type: str, headers: dict[str, str]) -> Response:
    """The response for an opened file: 304, headers only (HEAD), or its bytes streamed."""
    info = opened.info
    etag = '"' + hashlib.sha256(f"{info.etag}-{info.size}".encode()).hexdigest()[:32] + '"'
    headers = headers | {"etag": etag, "last-modified": formatdate(info.mtime, usegmt=True)}
    tags = request.headers.get("if-none-match", "")
    if tags.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in tags.split(",") if t.strip()]:
        keep = {k: v for k, v in headers.items() if k in ("etag", "cache-control", "last-modified")}
        return Response(status_code=304, headers=keep, background=BackgroundTask(opened.close))
    headers["content-length"] = str(info.size)
    if request.method == "HEAD":
        return Response(b"", media_type=media_type, headers=headers, background=BackgroundTask(opened.close))
    return StreamingResponse(
        opened.chunks, media_type=media_type, headers=headers, background=BackgroundTask(opened.close)
    )
