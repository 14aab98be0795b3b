"""Uploads: high bit-depth images converted by value, and a per-request pixel budget."""

from __future__ import annotations

import struct
import zlib

import pytest

from churns_gql.images import decode_image

# PNG colour types and their samples per pixel.
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def png16(color_type: int, sample: int, alpha: int = 65535, size: int = 4) -> bytes:
    """A size×size 16-bit PNG of one colour, built chunk by chunk (no encoder rounding in the way)."""
    channels = _CHANNELS[color_type]
    has_alpha = color_type in (4, 6)
    pixel = [sample] * (channels - 1 if has_alpha else channels) + ([alpha] if has_alpha else [])
    row = b"\x00" + struct.pack(f">{channels * size}H", *(pixel * size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("color_type", [0, 2, 4, 6], ids=["grey", "rgb", "la", "rgba"])
def test_half_grey_at_16_bits_stays_half_grey(color_type):
    decoded = decode_image(png16(color_type, 32768, alpha=32768), max_pixels=10_000)
    pixel = decoded.image.getpixel((1, 1))
    assert all(abs(v - 128) <= 1 for v in pixel[:3]), pixel
    if color_type in (4, 6):
        assert decoded.image.mode == "RGBA" and abs(pixel[3] - 128) <= 1
    else:
        assert decoded.image.mode == "RGB"


def test_16_bit_extremes_map_to_0_and_255():
    assert decode_image(png16(0, 0), max_pixels=100).image.getpixel((0, 0)) == (0, 0, 0)
    assert decode_image(png16(0, 65535), max_pixels=100).image.getpixel((0, 0)) == (255, 255, 255)


async def test_a_request_cannot_decode_more_than_its_pixel_budget(client, services):

    from tests.conftest import IMPORT_RUN, png_bytes

    services.settings = services.settings.with_changes(max_pixels_per_request=3 * 64 * 48)
    files = {f"input.images.{i}": (f"{i}.png", png_bytes(), "image/png") for i in range(4)}
    body = (await client.upload(IMPORT_RUN, {"input": {"images": [None] * 4}}, files)).json()
    errors = body["data"]["importRun"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "images", "3"], "TOO_LARGE")]
    assert "in all" in errors[0]["message"]
    assert not services.storage.runs_dir.exists() or not any(services.storage.runs_dir.iterdir())


async def test_decoding_is_one_image_at_a_time_per_request_and_bounded_across_requests(client, services, monkeypatch):
    import asyncio
    import threading
    import time

    from churns_gql import images
    from tests.conftest import IMPORT_RUN, png_bytes

    real = images.decode_image
    lock = threading.Lock()
    active: dict[int, int] = {}  # request (its pixel budget) -> decodes running now
    peak = {"all": 0, "one_request": 0}

    def watched(data, *, max_pixels, budget=None):
        key = id(budget)
        with lock:
            active[key] = active.get(key, 0) + 1
            peak["all"] = max(peak["all"], sum(active.values()))
            peak["one_request"] = max(peak["one_request"], active[key])
        try:
            time.sleep(0.05)  # long enough for every request's decodes to meet if nothing bounded them
            return real(data, max_pixels=max_pixels, budget=budget)
        finally:
            with lock:
                active[key] -= 1

    monkeypatch.setattr(images, "decode_image", watched)
    files = {f"input.images.{i}": (f"{i}.png", png_bytes(), "image/png") for i in range(3)}
    bodies = await asyncio.gather(
        *[client.upload(IMPORT_RUN, {"input": {"images": [None] * 3}}, files) for _ in range(5)]
    )
    assert all(b.json()["data"]["importRun"]["run"] for b in bodies)
    assert peak["one_request"] == 1, peak
    assert peak["all"] == images.MAX_CONCURRENT_DECODES, peak
