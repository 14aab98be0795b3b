"""The image lane: concurrent jobs' pixel work (decode, edit, encode) runs one piece at a time per process."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from PIL import Image

from churns_gql import image_lane
from churns_gql.providers.base import EditRequest
from churns_gql.providers.offline import LocalImageEditor


class Overlap:
    """Counts how many calls run at the same moment, across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        """A call starts."""
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        """A call ends."""
        with self.lock:
            self.now -= 1


async def test_concurrent_offline_edits_run_one_at_a_time(monkeypatch):
    """Four jobs editing at once in one worker take turns on the lane instead of sharing the GIL and cores."""
    overlap = Overlap()

    def repair(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
        overlap.enter()
        time.sleep(0.05)
        overlap.leave()
        return request.image, "repaired"

    monkeypatch.setattr("churns_gql.providers.offline.editor.repair_subject", repair)
    editor = LocalImageEditor()
    requests = [EditRequest(kind="SUBJECT", image=Image.new("RGB", (8, 8)), instructions="x") for _ in range(4)]
    results = await asyncio.gather(*(editor.edit(r) for r in requests))
    assert [r.notes for r in results] == ["repaired"] * 4
    assert overlap.most == 1


async def test_the_lane_keeps_order_context_and_drops_cancelled_waiting_work():
    """Work runs in the order queued, sees the caller's context variables, and work cancelled before it starts
    never runs."""
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    ran: list[str] = []
    gate = threading.Event()

    def blocker() -> None:
        gate.wait(5)
        ran.append("blocker")

    def record(name: str) -> str:
        ran.append(name)
        return var.get()

    var.set("caller's")
    first = asyncio.ensure_future(image_lane.run(blocker))
    waiting = asyncio.ensure_future(image_lane.run(record, "cancelled"))
    last = asyncio.ensure_future(image_lane.run(record, "last"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()
    await first
    assert await last == "caller's"
    assert ran == ["blocker", "last"]
