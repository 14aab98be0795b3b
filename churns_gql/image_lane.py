"""The image lane: one thread per process that runs a job's CPU-bound pixel work (decode, edit, encode) in turn.

A worker runs several jobs at once so that one job's database and file I/O overlaps another's pixel work. The
pixel work itself gains nothing from running side by side in one process: the edits are Python and NumPy under
one GIL, and the codecs, which release it, then compete with the edits for the same cores. Run side by side,
four jobs cost 1.15-1.2× the CPU of the same jobs one after another (P7 in bench/README.md), so they queue here
instead; more cores are used by more worker processes, one lane each.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_owner_pid: int | None = None


def _lane() -> ThreadPoolExecutor:
    """This process's lane, made on first use (and again in a forked child, which does not inherit the thread)."""
    global _executor, _owner_pid
    with _lock:
        if _executor is None or _owner_pid != os.getpid():
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-lane")
            _owner_pid = os.getpid()
        return _executor


async def run(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run fn(*args, **kwargs) on the lane after the work queued before it, with the caller's context variables.

    Cancelling the caller while the work still waits removes it from the lane; work already running finishes
    (as with asyncio.to_thread) and its result is dropped.
    """
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_lane(), call)
