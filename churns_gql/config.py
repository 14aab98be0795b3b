"""One Settings object read from CHURNS_* environment variables; the defaults run locally."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Literal

ProviderName = Literal["openai", "local"]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(name: str) -> bool:
    return _env(name, "0").lower() in ("1", "true", "yes", "on")


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Every setting of the server and worker; `from_env()` builds it."""

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/churns"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path("data")
    # file:///path or s3://bucket/prefix; empty = the data dir (blob_store.open_store).
    storage_url: str = ""
    provider: str = "auto"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_image_model: str = "gpt-image-2.5-sunburst"  # configs/openai_models.yml lists the others
    max_upload_mb: int = 25
    max_pixels: int = 40_000_000
    max_pixels_per_request: int = 120_000_000
    host: str = "127.0.0.1"
    port: int = 8000
    refinement_timeout_s: int = 1800
    generation_timeout_s: int = 3600
    web_dir: Path = Path("web/dist")
    require_auth: bool = False
    allow_insecure_bind: bool = False
    max_query_depth: int = 15
    max_aliases: int = 100
    max_query_tokens: int = 5000
    max_query_bytes: int = 100_000
    rate_limit_per_minute: int = 60
    max_active_jobs_per_token: int = 20
    daily_spend_limit_usd: float = 10.0
    max_storage_mb_per_token: int = 10_240
    max_query_cost: int = 50_000
    max_subscriptions_per_connection: int = 100
    cors_origins: tuple[str, ...] = ()
    metrics_token: str | None = None
    worker_metrics_port: int = 0
    log_format: str = "text"
    configs_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "configs")

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment, each unset variable taking its default."""
        d = cls()
        return cls(
            database_url=_env("CHURNS_DATABASE_URL", d.database_url),
            redis_url=_env("CHURNS_REDIS_URL", d.redis_url),
            data_dir=Path(_env("CHURNS_DATA_DIR", str(d.data_dir))),
            storage_url=_env("CHURNS_STORAGE_URL", d.storage_url),
            provider=_env("CHURNS_PROVIDER", d.provider).lower(),
            openai_api_key=os.environ.get("OPENAI_API_KEY") or None,
            openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
            openai_image_model=_env("CHURNS_OPENAI_IMAGE_MODEL", d.openai_image_model),
            max_upload_mb=int(_env("CHURNS_MAX_UPLOAD_MB", str(d.max_upload_mb))),
            max_pixels=int(_env("CHURNS_MAX_PIXELS", str(d.max_pixels))),
            max_pixels_per_request=int(_env("CHURNS_MAX_PIXELS_PER_REQUEST", str(d.max_pixels_per_request))),
            host=_env("CHURNS_HOST", d.host),
            port=int(_env("CHURNS_PORT", str(d.port))),
            refinement_timeout_s=int(_env("CHURNS_REFINEMENT_TIMEOUT_S", str(d.refinement_timeout_s))),
            generation_timeout_s=int(_env("CHURNS_GENERATION_TIMEOUT_S", str(d.generation_timeout_s))),
            web_dir=Path(_env("CHURNS_WEB_DIR", str(d.web_dir))),
            configs_dir=Path(_env("CHURNS_CONFIGS_DIR", str(d.configs_dir))),
            require_auth=_flag("CHURNS_REQUIRE_AUTH"),
            allow_insecure_bind=_flag("CHURNS_ALLOW_INSECURE_BIND"),
            max_query_depth=int(_env("CHURNS_MAX_QUERY_DEPTH", str(d.max_query_depth))),
            max_aliases=int(_env("CHURNS_MAX_ALIASES", str(d.max_aliases))),
            max_query_tokens=int(_env("CHURNS_MAX_QUERY_TOKENS", str(d.max_query_tokens))),
            max_query_bytes=int(_env("CHURNS_MAX_QUERY_BYTES", str(d.max_query_bytes))),
            rate_limit_per_minute=int(_env("CHURNS_RATE_LIMIT_PER_MINUTE", str(d.rate_limit_per_minute))),
            max_active_jobs_per_token=int(_env("CHURNS_MAX_ACTIVE_JOBS_PER_TOKEN", str(d.max_active_jobs_per_token))),
            daily_spend_limit_usd=float(_env("CHURNS_DAILY_SPEND_LIMIT_USD", str(d.daily_spend_limit_usd))),
            max_storage_mb_per_token=int(_env("CHURNS_MAX_STORAGE_MB_PER_TOKEN", str(d.max_storage_mb_per_token))),
            max_query_cost=int(_env("CHURNS_MAX_QUERY_COST", str(d.max_query_cost))),
            max_subscriptions_per_connection=int(
                _env("CHURNS_MAX_SUBSCRIPTIONS_PER_CONNECTION", str(d.max_subscriptions_per_connection))
            ),
            cors_origins=_list("CHURNS_CORS_ORIGINS"),
            metrics_token=os.environ.get("CHURNS_METRICS_TOKEN") or None,
            worker_metrics_port=int(_env("CHURNS_WORKER_METRICS_PORT", str(d.worker_metrics_port))),
            log_format=_env("CHURNS_LOG_FORMAT", d.log_format).lower(),
        )

    @property
    def provider_name(self) -> ProviderName:
        """The provider in use: `auto` means openai when an API key is set, else local."""
        if self.provider in ("openai", "local"):
            return self.provider  # type: ignore[return-value]
        if self.provider != "auto":
            raise ValueError(f"CHURNS_PROVIDER must be auto, openai or local, not {self.provider!r}")
        return "openai" if self.openai_api_key else "local"

    @property
    def max_upload_bytes(self) -> int:
        """The upload size limit in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_request_bytes(self) -> int:
        """The largest request body: room for the most images one importRun takes, plus the form."""
        return self.max_upload_bytes * 16 + 1024 * 1024

    @property
    def sync_database_url(self) -> str:
        """The database URL for libpq-style tools (asyncpg's own DSN form)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


ENV_VARS = {
    "CHURNS_DATABASE_URL", "CHURNS_REDIS_URL", "CHURNS_DATA_DIR", "CHURNS_STORAGE_URL", "CHURNS_PROVIDER", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "CHURNS_OPENAI_IMAGE_MODEL", "CHURNS_MAX_UPLOAD_MB", "CHURNS_MAX_PIXELS", "CHURNS_HOST",
    "CHURNS_PORT", "CHURNS_REFINEMENT_TIMEOUT_S", "CHURNS_GENERATION_TIMEOUT_S", "CHURNS_WEB_DIR",
    "CHURNS_CONFIGS_DIR", "CHURNS_REQUIRE_AUTH", "CHURNS_ALLOW_INSECURE_BIND", "CHURNS_MAX_QUERY_DEPTH",
    "CHURNS_MAX_ALIASES", "CHURNS_MAX_QUERY_TOKENS", "CHURNS_MAX_SUBSCRIPTIONS_PER_CONNECTION",
    "CHURNS_MAX_QUERY_BYTES", "CHURNS_MAX_QUERY_COST", "CHURNS_MAX_PIXELS_PER_REQUEST",
    "CHURNS_RATE_LIMIT_PER_MINUTE", "CHURNS_MAX_ACTIVE_JOBS_PER_TOKEN", "CHURNS_DAILY_SPEND_LIMIT_USD",
    "CHURNS_MAX_STORAGE_MB_PER_TOKEN", "CHURNS_CORS_ORIGINS",
    "CHURNS_METRICS_TOKEN", "CHURNS_WORKER_METRICS_PORT", "CHURNS_LOG_FORMAT",
}
"""Every environment variable Settings.from_env reads (tests check .env.example and compose against it)."""

assert len(ENV_VARS) == len(fields(Settings)), "ENV_VARS and Settings fields drifted apart"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
