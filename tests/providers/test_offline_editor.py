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
    result = await LocalImageEditor().edit(EditRequest(kind=kind, image=Image.new("RGB", (20, 10)), instructions="x",
                                                       creativity=3))
    assert calls == [(kind, strength_for(3))] and result.notes == f"{function} called"
    assert result.image.getpixel((0, 0)) == (255, 0, 0)
    assert repairer(kind) is repair


def test_the_editor_is_reachable_from_both_paths_and_make_editor():
    """make_editor picks the offline editor without a key; the old import path still works."""
    from churns_gql.config import Settings

    assert FromOldPath is LocalImageEditor
    assert isinstance(make_editor(Settings(provider="local")), LocalImageEditor)
