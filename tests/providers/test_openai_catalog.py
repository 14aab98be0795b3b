"""The model catalogue, the size plans it drives, the upload limits, and `churns-gql check` on its models."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import openai
import pytest
from PIL import Image

from churns_gql.cli import check_models
from churns_gql.config import Settings
from churns_gql.imaging import Rect, feathered_mask
from churns_gql.providers.base import EditRequest
from churns_gql.providers.generation_openai import configured_model_problems
from churns_gql.providers.openai import OpenAIImageEditor
from churns_gql.providers.openai_catalog import Limits, image_model_problem, load_catalogue
from churns_gql.providers.openai_sizes import crop_back, edit_mask, fit_limits, pad_to_canvas, plan_size
from tests import fake_openai_rules as rules
from tests.fake_openai import EDITS, FakeOpenAI

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CATALOGUE = load_catalogue(CONFIGS)
DEFAULT = CATALOGUE.image_model(Settings.defaults().openai_image_model)


def noisy(width: int, height: int) -> Image.Image:
    """An image PNG cannot compress much (seeded noise over a gradient)."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    return Image.fromarray((ramp + rng.integers(0, 55, (height, width, 3))).astype(np.uint8), "RGB")


def test_the_default_model_is_current_and_takes_any_size():
    """Settings default to a served image model (by the fake's independent list) that takes the parent's aspect."""
    assert image_model_problem(CATALOGUE, DEFAULT.name, "X") is None
    assert DEFAULT.name == CATALOGUE.default_image_model and DEFAULT.any_size is not None
    assert rules.image_model(DEFAULT.name).any_size


def test_the_catalogue_agrees_with_the_sdk_facts_the_fake_encodes():
    """Parameters, qualities, size kind and shutdown of every image model match the fake's table from the SDK."""
    assert set(CATALOGUE.image_models) == set(rules.IMAGE_MODELS)
    for name, spec in CATALOGUE.image_models.items():
        fake = rules.IMAGE_MODELS[name]
        assert set(spec.input_fidelity) == set(fake.fidelity), name
        assert (spec.any_size is not None) == fake.any_size, name
        assert spec.shutdown == fake.shutdown, name
        if spec.shutdown is None:
            assert set(spec.qualities) == set(fake.qualities), name
    for name, shutdown in CATALOGUE.chat_shutdowns.items():
        assert rules.CHAT_MODELS[name] == shutdown, name


@pytest.mark.parametrize(
    "size",
    [
        (1200, 630),
        (1080, 1080),
        (1080, 1920),
        (1000, 1500),
        (1500, 500),
        (300, 200),
        (6000, 4000),
        (4000, 1000),
        (640, 2400),
    ],
)
def test_any_size_plans_keep_the_aspect_and_satisfy_the_api(size):
    """The requested size passes the API's rules, keeps the parent's aspect (within 3:1), and pads at most a sliver."""
    plan = plan_size(DEFAULT, size)
    width, height = plan.request
    assert rules.check_size(rules.image_model(DEFAULT.name), plan.size_param) == (width, height)
    aspect = min(max(size[0] / size[1], 1 / 3), 3)
    assert abs(np.log(width / height / aspect)) < 0.01
    assert abs(plan.canvas[0] / plan.canvas[1] - width / height) < 2 / min(plan.canvas)  # same aspect, to a pixel
    if 1 / 3 <= size[0] / size[1] <= 3:
        assert max(plan.canvas[0] - size[0], plan.canvas[1] - size[1]) <= 0.01 * max(size) + 1
    assert width * height <= DEFAULT.any_size.target_max_pixels


def test_fixed_size_models_pad_to_the_nearest_size():
    """gpt-image-1.5: a 1.91:1 parent goes to 1536x1024 on a 1200x800 canvas, centred."""
    plan = plan_size(CATALOGUE.image_model("gpt-image-1.5"), (1200, 630))
    assert (plan.request, plan.canvas, plan.offset) == ((1536, 1024), (1200, 800), (0, 85))


def test_pad_and_crop_back_are_exact_inverses():
    """Cropping a padded canvas (at canvas size) gives the parent back bit for bit, RGBA included."""
    for mode in ("RGB", "RGBA"):
        parent = noisy(333, 777).convert(mode)
        plan = plan_size(CATALOGUE.image_model("gpt-image-1.5"), parent.size)
        canvas = pad_to_canvas(parent, plan)
        assert canvas.size == plan.canvas and plan.padded
        assert np.array_equal(np.asarray(crop_back(canvas, plan)), np.asarray(parent))


def test_uploads_over_the_limits_are_scaled_with_their_mask():
    """Image and mask are scaled together until each is under its byte limit; the mask stays binary."""
    parent = noisy(1200, 800)
    plan = plan_size(DEFAULT, parent.size)
    weight = feathered_mask(parent.size, [Rect(0.2, 0.2, 0.3, 0.3)])
    limits = Limits(max_image_bytes=400_000, max_mask_bytes=1_500)
    upload = fit_limits(pad_to_canvas(parent, plan), edit_mask(plan, weight), limits)
    assert len(upload.image) < 400_000 and len(upload.mask) < 1_500 and upload.scale < 1
    import io

    image, mask = Image.open(io.BytesIO(upload.image)), Image.open(io.BytesIO(upload.mask))
    assert image.size == mask.size and set(np.unique(np.asarray(mask.getchannel("A")))) == {0, 255}
    assert abs(image.width / image.height - plan.canvas[0] / plan.canvas[1]) < 0.01


async def test_an_oversized_parent_is_sent_smaller_and_comes_back_exact(tmp_path):
    """Through the editor: an upload over the limit is scaled down, the result is the parent's size, untouched outside."""
    parent = noisy(1200, 630)
    rects = [Rect(0.5, 0.2, 0.3, 0.4)]
    catalogue = dataclasses.replace(CATALOGUE, limits=Limits(max_image_bytes=500_000, max_mask_bytes=4_000))
    with FakeOpenAI(api_key="k") as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k")
        editor = OpenAIImageEditor(client, DEFAULT.name, catalogue)
        result = await editor.edit(EditRequest(kind="PROMPT", image=parent, prompt="x", rects=rects))
        sent = fake.last_request(EDITS)
        await client.close()
    assert len(sent.images[0].data) < 500_000 and sent.images[0].image().size == sent.mask.image().size
    assert sent.images[0].image().width < 1200 and "to fit OpenAI's upload limits" in result.notes
    weight = feathered_mask(parent.size, rects)
    assert result.image.size == (1200, 630)
    assert np.array_equal(np.asarray(result.image)[weight == 0], np.asarray(parent)[weight == 0])


def test_check_refuses_retired_and_unknown_models_naming_the_setting(capsys):
    """`churns-gql check` (and start-up) print what is wrong and with which setting; current models pass."""
    base = Settings.defaults(provider="openai", openai_api_key="k", configs_dir=CONFIGS)
    assert check_models(base) is True
    assert check_models(base.with_changes(openai_image_model="gpt-image-1")) is False
    out = capsys.readouterr().out
    assert "CHURNS_OPENAI_IMAGE_MODEL='gpt-image-1' was shut down by OpenAI on 2026-10-23" in out
    assert check_models(base.with_changes(openai_image_model="dall-e-3")) is False
    assert check_models(base.with_changes(openai_image_model="gpt-image-7")) is False
    assert "is not an OpenAI image model" in capsys.readouterr().out
    assert check_models(base.with_changes(provider="local", openai_image_model="gpt-image-1")) is True


def test_announced_shutdowns_are_warnings_until_the_date(tmp_path):
    """A chat model with a shutdown date ahead warns; on or after the date it is refused."""
    generation = tmp_path / "configs"
    generation.mkdir()
    for name in ("openai_models.yml", "platforms.yml", "stage_order.yml"):
        (generation / name).write_text((CONFIGS / name).read_text())
    (generation / "generation.yml").write_text("text_models:\n  default: gpt-4.1-mini\n")
    settings = Settings.defaults(provider="openai", openai_api_key="k", configs_dir=generation)
    errors, warnings = configured_model_problems(settings)
    assert errors == [] and any("gpt-4.1-mini' will be shut down by OpenAI on 2027-01-14" in w for w in warnings)
    from churns_gql.providers.openai_catalog import chat_model_problem

    problem = chat_model_problem(CATALOGUE, "gpt-4.1-mini", "text_models.default", today=dt.date(2027, 1, 14))
    assert problem and "was shut down" in problem


@pytest.mark.parametrize("command", ["serve", "worker", "dev", "check"])
def test_start_up_refuses_a_shut_down_model_before_starting(command, monkeypatch, capsys):
    """`churns-gql serve|worker|dev|check` exit 2 naming CHURNS_OPENAI_IMAGE_MODEL; nothing is started."""
    from churns_gql import cli
    from churns_gql.config import get_settings

    started: list[str] = []
    for name in ("serve", "worker", "dev", "check_services"):
        monkeypatch.setattr(cli, name, lambda *a, _n=name, **k: started.append(_n))
    monkeypatch.setenv("CHURNS_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("CHURNS_OPENAI_IMAGE_MODEL", "gpt-image-1")
    get_settings.cache_clear()
    try:
        assert cli.main([command]) == 2
    finally:
        get_settings.cache_clear()
    assert started == []
    assert "CHURNS_OPENAI_IMAGE_MODEL='gpt-image-1' was shut down by OpenAI" in capsys.readouterr().out


def _sdk_shutdowns(module, pattern: str, date_format: str) -> dict[str, dt.date]:
    """Model -> shutdown date, read from the "Deprecated values" notes in the installed SDK module's source."""
    import inspect
    import re

    notes = inspect.getsource(module).split('"""Deprecated values:', 1)[1].split('"""', 1)[0]
    found: dict[str, dt.date] = {}
    for entry in re.split(r"\n- ", " ".join(notes.split("\n  ")).replace("\n\n", "\n")):
        match = re.search(pattern, entry)
        if match:
            names = re.findall(r'"([^"]+)"', entry[: match.start()])
            found.update(dict.fromkeys(names, dt.datetime.strptime(match.group(1), date_format).date()))
    return found


def test_the_catalogue_names_only_models_of_the_installed_sdk_with_its_shutdown_dates():
    """Every catalogued model is one the SDK names, and each shutdown date is the one the SDK announces."""
    from typing import get_args

    from openai.types import image_model
    from openai.types.shared import chat_model

    image_dates = _sdk_shutdowns(image_model, r"(?:shut down|retired) on (\w+ \d{1,2}, \d{4})", "%B %d, %Y")
    chat_dates = _sdk_shutdowns(chat_model, r"Announced shutdown date:\s*(\d{4}-\d{2}-\d{2})", "%Y-%m-%d")
    assert image_dates["gpt-image-1"] == dt.date(2026, 10, 23) and chat_dates["gpt-4.1-mini"] == dt.date(2027, 1, 14)
    assert set(CATALOGUE.image_models) <= set(get_args(image_model.ImageModel))
    assert set(CATALOGUE.chat_shutdowns) <= set(get_args(chat_model.ChatModel))
    for name, spec in CATALOGUE.image_models.items():
        assert spec.shutdown == image_dates.get(name), name
    for name, shutdown in CATALOGUE.chat_shutdowns.items():
        assert shutdown == chat_dates.get(name), name
    assert CATALOGUE.default_image_model not in image_dates and CATALOGUE.default_chat_model not in chat_dates
