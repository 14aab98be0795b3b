"""The offline editor's dispatch: TEXT and SUBJECT go to offline.text / offline.subject when those exist."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import pytest
from PIL import Image

from churns_gql.providers import make_editor
from churns_gql.providers.base import EditRequest
from churns_gql.providers.local import LocalImageEditor as FromOldPath
from churns_gql.providers.offline import LocalImageEditor, _legacy
from churns_gql.providers.offline.editor import repairer, strength_for


def fake_module(name: str, function: str, calls: list) -> types.ModuleType:
    """A stand-in for offline.<name> whose repair function records its call and returns a red image."""
    module = types.ModuleType(f"churns_gql.providers.offline.{name}")
    module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)

    def repair(request: EditRequest, strength: float) -> tuple[Image.Image, str]:
        """Record the call and answer with a red image."""
        calls.append((request.kind, strength))
        return Image.new("RGB", request.image.size, "red"), f"{name} module"

    setattr(module, function, repair)
    return module


@pytest.mark.parametrize(("kind", "name", "function"), [("TEXT", "text", "repair_text"), ("SUBJECT", "subject", "repair_subject")])
async def test_repairs_use_the_capability_module_when_it_exists(monkeypatch, kind, name, function):
    """With offline.<name> present the editor calls its function, off the event loop, with the creativity's strength."""
    calls: list = []
    monkeypatch.setitem(sys.modules, f"churns_gql.providers.offline.{name}", fake_module(name, function, calls))
    result = await LocalImageEditor().edit(EditRequest(kind=kind, image=Image.new("RGB", (20, 10)), instructions="x",
                                                       creativity=3))
    assert calls == [(kind, strength_for(3))] and result.notes == f"{name} module"
    assert result.image.getpixel((0, 0)) == (255, 0, 0)


def test_repairs_fall_back_to_the_legacy_code_only_while_the_modules_are_missing():
    """Without offline.text / offline.subject the previous repairs answer."""
    for kind, name, function in (("TEXT", "text", "repair_text"), ("SUBJECT", "subject", "repair_subject")):
        if importlib.util.find_spec(f"churns_gql.providers.offline.{name}") is None:
            assert repairer(kind) is getattr(_legacy, function)
        else:
            assert repairer(kind) is not getattr(_legacy, function)


def test_the_editor_is_reachable_from_both_paths_and_make_editor():
    """make_editor picks the offline editor without a key; the old import path still works."""
    from churns_gql.config import Settings

    assert FromOldPath is LocalImageEditor
    assert isinstance(make_editor(Settings(provider="local")), LocalImageEditor)
