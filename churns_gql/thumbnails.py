"""Resized copies of run images for `/files/...png?w=N`: made on first request, cached on disk, served with an ETag.

A page asks for the width it draws (srcset), so a grid of 6000 px originals costs tens of kilobytes
an image instead of megabytes. Widths snap to a short list so the cache stays small whatever the
client asks; derivatives are WebP (alpha kept) in the run's `.thumbs/` folder, which `/files` never
serves directly and which goes away with the run. They are regenerable, so they never count toward the
owner's storage quota, and each run's folder of them is bounded: the least recently used go first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path

from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from churns_gql.storage import DERIVATIVES

WIDTHS = (160, 320, 480, 640, 960, 1280, 1920)
CACHE_DIR = DERIVATIVES
# At most this many bytes of derivatives per run: a few thousand thumbnails, whatever a client asks for.
MAX_CACHE_BYTES_PER_RUN = 64 * 1024 * 1024
# A hit refreshes its file's mtime (the LRU clock) only when older than this, so hits rarely write.
_TOUCH_AFTER_S = 3600.0
QUALITY = 80
# Decoding a 6000 px original holds ~100 MB: at most this many at once per process.
MAX_CONCURRENT = 2
_slots: dict[int, asyncio.Semaphore] = {}


class BadWidth(ValueError):
    """The `w` parameter is not a width in pixels."""


def snap_width(raw: str) -> int:
    """The smallest offered width at least `raw` (the largest offered one above them); raises BadWidth."""
    try:
        wanted = int(raw)
    except ValueError:
        raise BadWidth("w must be a width in pixels, e.g. w=480") from None
    if not 1 <= wanted <= 100_000:
        raise BadWidth("w must be between 1 and 100000")
    return next((w for w in WIDTHS if w >= wanted), WIDTHS[-1])


def cache_path(run_dir: Path, source: Path, width: int) -> Path:
    """Where the derivative of one version of `source` at `width` lives; a rewritten source gets a new name."""
    stat = source.stat()
    key = f"{source.relative_to(run_dir)}\n{stat.st_mtime_ns}\n{stat.st_size}\n{width}"
    return run_dir / CACHE_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.webp"


def render(source: Path, target: Path, width: int) -> bool:
    """Write `source` scaled to `width` as WebP at `target`; False (nothing written) when it is not wider."""
    try:
        image = Image.open(source)
    except (OSError, Image.DecompressionBombError):
        return False  # not a picture Pillow reads: the file is served as it is
    with image:
        if image.width <= width:
            return False
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
        height = max(1, round(image.height * width / image.width))
        # reducing_gap lets Pillow shrink by whole factors first: fast on huge images, still sharp.
        small = image.convert(mode) if image.mode not in ("RGB", "RGBA") else image
        small = small.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            small.save(out, "WEBP", quality=QUALITY, method=4)
        os.replace(temp, target)  # readers never see half a file; a racing twin writes the same bytes
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def evictions(entries: list[tuple[str, int, float]], keep: str, cap: int) -> list[str]:
    """Names to delete from (name, size, mtime) entries, oldest first, until they total `cap` or less."""
    total = sum(size for _name, size, _mtime in entries)
    doomed = []
    for name, size, _mtime in sorted(entries, key=lambda entry: entry[2]):
        if total <= cap:
            break
        if name != keep:
            doomed.append(name)
            total -= size
    return doomed


def trim(cache: Path, keep: Path) -> int:
    """Delete a run's least recently used derivatives beyond MAX_CACHE_BYTES_PER_RUN; returns how many."""
    entries = []
    for path in cache.glob("*.webp"):
        try:
            stat = path.stat()
        except OSError:
            continue  # a twin request's eviction got there first
        entries.append((path.name, stat.st_size, stat.st_mtime))
    doomed = evictions(entries, keep.name, MAX_CACHE_BYTES_PER_RUN)
    for name in doomed:
        (cache / name).unlink(missing_ok=True)
    return len(doomed)


def _touch(target: Path) -> None:
    """Mark a derivative used now, unless that was marked recently."""
    try:
        if time.time() - target.stat().st_mtime > _TOUCH_AFTER_S:
            os.utime(target)
    except OSError:
        pass  # evicted meanwhile: the caller serves what it found or the source


def _render_and_trim(source: Path, target: Path, width: int) -> bool:
    """render(), then keep the run's derivatives within their bound."""
    made = render(source, target, width)
    if made:
        trim(target.parent, target)
    return made


async def derivative(run_dir: Path, source: Path, width: int) -> Path:
    """The file to serve for `source` at `width`: the cached derivative, made now if missing, or the source."""
    target = cache_path(run_dir, source, width)
    if target.is_file():
        _touch(target)
        return target
    slots = _slots.setdefault(id(asyncio.get_running_loop()), asyncio.Semaphore(MAX_CONCURRENT))
    async with slots:
        if target.is_file():
            return target
        made = await asyncio.to_thread(_render_and_trim, source, target, width)
    return target if made else source


def _not_modified(request: Request, response: FileResponse) -> bool:
    """Whether the request's If-None-Match names the response's ETag."""
    tags = request.headers.get("if-none-match", "")
    etag = response.headers.get("etag")
    return bool(etag) and (tags.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in tags.split(",")])


async def file_response(
    request: Request, run_dir: Path, found: Path, media_type: str, headers: dict[str, str]
) -> Response:
    """Serve a run file or, with `?w=`, its resized copy; answers 304 to a matching If-None-Match."""
    raw = request.query_params.get("w")
    # Only pictures have smaller copies; `?w=` on a JSON file serves the file itself.
    if raw is not None and media_type.startswith("image/"):
        try:
            width = snap_width(raw)
        except BadWidth as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        served = await derivative(run_dir, found, width)
        if served != found:
            try:
                served.stat()
                found, media_type = served, "image/webp"
            except FileNotFoundError:
                pass  # evicted by a twin request between finding and sending it: the source will do
    # With the stat given up front the ETag is known before sending, so a revalidation can be answered.
    response = FileResponse(found, media_type=media_type, headers=headers, stat_result=found.stat())
    if _not_modified(request, response):
        keep = {k: v for k, v in response.headers.items() if k in ("etag", "cache-control", "last-modified")}
        return Response(status_code=304, headers=keep)
    return response
