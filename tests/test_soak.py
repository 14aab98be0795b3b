"""The chaos soak, short: slow, so outside the default run (`pytest -m slow`, or `make soak` for the full one)."""

from __future__ import annotations

import pytest

from tests.soak import soak


@pytest.mark.slow
async def test_a_short_chaos_soak_holds_every_invariant():
    assert await soak(minutes=1.0, every_s=10.0) == 0
