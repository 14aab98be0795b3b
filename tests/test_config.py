"""Settings from the environment, and .env.example documenting every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from churns_gql.config import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_run_locally(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/churns"
    assert settings.data_dir == Path("data")
    assert settings.max_upload_mb == 25 and settings.max_pixels == 40_000_000
    assert settings.provider_name == "local"


def test_provider_auto_picks_openai_with_a_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("CHURNS_PROVIDER", "auto")
    assert Settings.from_env().provider_name == "openai"
    monkeypatch.setenv("CHURNS_PROVIDER", "local")
    assert Settings.from_env().provider_name == "local"


def test_unknown_provider_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CHURNS_PROVIDER", "magic")
    with pytest.raises(ValueError, match="auto, openai or local"):
        _ = Settings.from_env().provider_name


def test_env_vars_override(monkeypatch):
    monkeypatch.setenv("CHURNS_MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("CHURNS_DATA_DIR", "/srv/x")
    settings = Settings.from_env()
    assert settings.max_upload_bytes == 3 * 1024 * 1024 and settings.data_dir == Path("/srv/x")


def test_env_example_documents_every_variable():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    assert documented == ENV_VARS
