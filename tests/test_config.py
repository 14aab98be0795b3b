"""Settings from the environment, and .env.example generated from the Settings model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from churns_gql.config import ENV_VARS, Settings, SettingsError
from churns_gql.env_example import render

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
    monkeypatch.setenv("CHURNS_PROVIDER", "LOCAL")
    assert Settings.from_env().provider_name == "local"


def test_unknown_provider_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CHURNS_PROVIDER", "magic")
    with pytest.raises(ValueError, match="CHURNS_PROVIDER='magic': Input should be 'auto', 'openai' or 'local'"):
        _ = Settings.from_env().provider_name


def test_env_vars_override(monkeypatch):
    monkeypatch.setenv("CHURNS_MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("CHURNS_DATA_DIR", "/srv/x")
    monkeypatch.setenv("CHURNS_CORS_ORIGINS", "https://a.example, http://localhost:5173,")
    monkeypatch.setenv("CHURNS_REQUIRE_AUTH", "yes")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = Settings.from_env()
    assert settings.max_upload_bytes == 3 * 1024 * 1024 and settings.data_dir == Path("/srv/x")
    assert settings.cors_origins == ("https://a.example", "http://localhost:5173")
    assert settings.require_auth is True and settings.openai_base_url == "http://127.0.0.1:9/v1"


def test_an_empty_variable_means_the_default(monkeypatch):
    monkeypatch.setenv("CHURNS_PORT", "")
    monkeypatch.setenv("CHURNS_LOG_FORMAT", "")
    settings = Settings.from_env()
    assert settings.port == 8000 and settings.log_format == "text"


def test_invalid_values_name_every_variable_at_fault(monkeypatch):
    """Before the model a bad number was a bare int() traceback and a bad flag silently off."""
    monkeypatch.setenv("CHURNS_MAX_UPLOAD_MB", "lots")
    monkeypatch.setenv("CHURNS_REQUIRE_AUTH", "maybe")
    monkeypatch.setenv("CHURNS_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "CHURNS_MAX_UPLOAD_MB='lots': Input should be a valid integer" in message
    assert "CHURNS_REQUIRE_AUTH='maybe': Input should be a valid boolean" in message
    assert "CHURNS_LOG_FORMAT='xml': Input should be 'text' or 'json'" in message


def test_the_cli_reports_a_bad_variable_without_a_traceback():
    env = {"PATH": "/usr/bin:/bin", "CHURNS_PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "churns_gql.cli", "check"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: CHURNS_PORT='eighty': Input should be a valid integer, unable to parse "
        "string as an integer"
    )


def test_defaults_and_changes_are_validated_without_reading_the_environment(monkeypatch):
    monkeypatch.setenv("CHURNS_PORT", "9999")
    settings = Settings.defaults(max_upload_mb=2)
    assert settings.port == 8000 and settings.max_upload_mb == 2
    assert settings.with_changes(port=1234).port == 1234 and settings.port == 8000
    with pytest.raises(ValueError, match="provider"):
        settings.with_changes(provider="magic")


def test_every_setting_is_described():
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []


def test_env_example_is_generated_from_the_settings():
    """The committed .env.example is exactly what `python -m churns_gql.env_example` writes."""
    assert (ROOT / ".env.example").read_text() == render(), "run: python -m churns_gql.env_example > .env.example"
    for name in ENV_VARS:
        assert f"\n{name}=" in render() or f"\n# {name}=" in render()
    assert str(ROOT) not in render()  # no machine path from a computed default


def test_changes_win_over_the_environment_for_aliased_settings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = Settings.from_env()
    assert settings.openai_api_key == "sk-from-env"
    assert settings.with_changes(openai_api_key=None).openai_api_key is None
    assert settings.with_changes(port=1).openai_api_key == "sk-from-env"
