"""The offline editor's dispatch: TEXT and SUBJECT go to offline.text / offline.subject."""

from __future__ import annotations

import pytest
from PIL import Image

from churns_gql.providers import make_editor
from churns_gql.providers.base import EditRequest
from churns_gql.providers.local import LocalImageEditor as FromOldPath
from churns_gql.providers.offline import LocalImageEditor
from churns_gql.providers.offline.editor import repairer, strength_for


@pytest.mark.parametrize(("kind", "function"), [("TEXT", "repair_text"), ("SUBJECT", "repair_subject")])
async def test_repairs_go_to_their_capability_module(monkeypatch, kind, function):
    """The editor calls offline.text / offline.subject off the event loop, with the creativity's strength."""
    calls: list = []

    def repair(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
        calls.append((request.kind, strength))
        return Image.new("RGB", request.image.size, "red"), f"{function} called"

    monkeypatch.setattr(f"churns_gql.providers.offline.editor.{function}", repair)
    result = await LocalImageEditor().edit(
        EditRequest(kind=kind, image=Image.new("RGB", (20, 10)), instructions="x", creativity=3)
    )
    assert calls == [(kind, strength_for(3))] and result.notes == f"{function} called"
    assert result.image.getpixel((0, 0)) == (255, 0, 0)
    assert repairer(kind) is repair


def test_the_editor_is_reachable_from_both_paths_and_make_editor():
    """make_editor picks the offline editor without a key; the old import path still works."""
    from churns_gql.config import Settings

    assert FromOldPath is LocalImageEditor
    assert isinstance(make_editor(Settings.defaults(provider="local")), LocalImageEditor)


def test_warm_up_loads_the_ocr_models_before_the_first_text_job():
    """A worker calls warm_up at start, so the first TEXT repair does not load the OCR models itself."""
    from churns_gql.providers.offline import ocr

    ocr._engine.cache_clear()
    LocalImageEditor().warm_up()
    assert ocr._engine.cache_info().currsize == 1


async def test_a_worker_starts_warming_its_editor_up(services, monkeypatch):
    """worker_settings' start-up hook launches the editor's warm-up beside the first polls."""
    from churns_gql.worker import worker_settings

    warmed: list[bool] = []
    monkeypatch.setattr(LocalImageEditor, "warm_up", lambda self: warmed.append(True))
    options = worker_settings(services.settings)
    ctx: dict = {}
    await options["on_startup"](ctx)
    try:
        await ctx["warm_up"]
        assert warmed == [True]
    finally:
        await options["on_shutdown"](ctx)
