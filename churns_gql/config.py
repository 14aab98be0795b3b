"""One Settings model read from CHURNS_* environment variables (and OPENAI_*); the defaults run locally.

Each field's docstring is its description: `python -m churns_gql.env_example` writes .env.example from
them, so a new setting is one field and one docstring here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

ProviderName = Literal["openai", "local"]
ENV_PREFIX = "CHURNS_"


def _configs_dir() -> Path:
    """The configs/ folder next to the package (a source checkout or the image's /app)."""
    return Path(__file__).resolve().parent.parent / "configs"


class SettingsError(ValueError):
    """A setting in the environment is not valid; the message names the variable."""


class Settings(BaseSettings):
    """Every setting of the server and worker; `from_env()` reads them (unset or empty: the default)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/churns"
    """Postgres, through asyncpg. The run command creates the database if it is missing."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for the arq job queue."""
    data_dir: Path = Path("data")
    """Where run folders live: data/runs/{run_id}/..."""
    storage_url: str = ""
    """Where run files are stored: file:///path (empty: CHURNS_DATA_DIR) or s3://bucket/prefix, with the standard
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL (MinIO, other S3 stores)."""
    provider: Literal["auto", "openai", "local"] = "auto"
    """auto | openai | local. auto = openai when OPENAI_API_KEY is set, else the offline provider."""
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    """Key for the OpenAI provider; unset = offline."""
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    """Another OpenAI-compatible endpoint (tests point this at a fake server on loopback)."""
    openai_image_model: str = "gpt-image-2.5-sunburst"
    """Image model for edits and originals: a current model of configs/openai_models.yml; `churns-gql check` refuses
    unknown or shut-down models. Chat models: configs/generation.yml."""
    max_upload_mb: int = 25
    """Largest upload accepted, in MB."""
    max_pixels: int = 40_000_000
    """Largest image accepted, in pixels (checked before decoding)."""
    max_pixels_per_request: int = 120_000_000
    """Pixels all the images of one request may have together (a flood of images at the limit is refused)."""
    host: str = "127.0.0.1"
    """Address the API listens on."""
    port: int = 8000
    """Port the API listens on."""
    refinement_timeout_s: int = 1800
    """Time budget of one refinement job, in seconds."""
    generation_timeout_s: int = 3600
    """Time budget of one generation job, in seconds."""
    web_dir: Path = Path("web/dist")
    """The built web client served at /."""
    require_auth: bool = False
    """Require an API token on every request even before any token exists (1/0). Once a token exists (churns-gql
    token create NAME) tokens are required anyway."""
    allow_insecure_bind: bool = False
    """Without tokens the API only binds to loopback; 1 allows another address (e.g. inside a container whose port is
    published on the host's loopback only)."""
    max_query_depth: int = 15
    """Nesting depth a query may reach (recursive children/parent)."""
    max_aliases: int = 100
    """Aliases per GraphQL document."""
    max_query_tokens: int = 5000
    """Tokens per GraphQL document."""
    max_query_bytes: int = 100_000
    """A document longer than this many characters is refused before parsing (comments count)."""
    rate_limit_per_minute: int = 60
    """Per token (0 = unlimited; without tokens everyone shares one bucket; held in Postgres, so across API
    replicas): mutations that queue work (createRun, refineImage) per minute."""
    max_active_jobs_per_token: int = 20
    """Per token (0 = unlimited): jobs (runs and refinements) QUEUED or RUNNING at once."""
    daily_spend_limit_usd: float = 10.0
    """Per token (0 = unlimited): estimated spend per UTC day in USD (a job's estimate counts when it is queued, its
    real cost once known)."""
    max_storage_mb_per_token: int = 10_240
    """Per token (0 = unlimited): size of the token's run folders, in MB."""
    max_query_cost: int = 50_000
    """Static cost limit: fields, times page sizes of connections and lists (QUERY_TOO_COMPLEX above it; 0 = off)."""
    max_subscriptions_per_connection: int = 100
    """Operations open at once on one websocket."""
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Browser origins allowed to call /graphql and /files cross-origin (CORS) and to open its websockets, comma-
    separated, e.g. https://app.example.com,http://localhost:5173. Empty: same origin only."""
    metrics_token: str | None = None
    """/metrics (Prometheus): with this set, scrapes must send `Authorization: Bearer <it>`; otherwise /metrics takes
    an API token whenever tokens are on, and is open (loopback) when they are off."""
    worker_metrics_port: int = 0
    """The worker's own metrics (job and provider-call durations) on this port; 0 = off."""
    log_format: Literal["text", "json"] = "text"
    """Log lines: text, or json (one object a line, with the request id of the request that logged it)."""
    apq_ttl_s: int = 86_400
    """Automatic persisted queries (Apollo APQ, `extensions.persistedQuery`): registered documents are kept in Redis
    this many seconds."""
    trusted_documents: Path | None = Field(default=None, examples=["web/trusted-documents.json"])
    """Trusted documents: a JSON manifest {sha256: document} (the web client's is web/trusted-documents.json, made by
    `npm run manifest`). When set, only its documents run, by hash or in full; any other is refused with FORBIDDEN,
    GraphiQL and ad-hoc clients included. Unset: any document runs (APQ registration on)."""
    configs_dir: Path = Field(default_factory=_configs_dir, examples=["./configs"])
    """Folder of stage_order.yml, openai_models.yml (models, sizes, prices), generation.yml and platforms.yml."""

    @field_validator("provider", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        """Names are case-insensitive, as they were before there was a model."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """A comma-separated list in the environment; a sequence from code."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment; a SettingsError naming each variable that is not valid."""
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError(settings_problems(exc)) from None

    @classmethod
    def defaults(cls, **changes: Any) -> Settings:
        """The defaults with `changes`, validated, without reading the environment (tests and tools)."""
        return _Given(**changes)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with `changes` applied and validated (the environment is not read again)."""
        return _Given(**{**self.model_dump(), **changes})

    @property
    def provider_name(self) -> ProviderName:
        """The provider in use: `auto` means openai when an API key is set, else local."""
        if self.provider != "auto":
            return self.provider
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


class _Given(Settings):
    """Settings from the values given in code alone: the environment is not a source."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the init keywords."""
        return (init_settings,)


def env_name(field: str) -> str:
    """The environment variable of a Settings field."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


ENV_VARS = frozenset(env_name(name) for name in Settings.model_fields)
"""Every environment variable Settings reads (tests check docker-compose.yml and the Dockerfile against it)."""


def settings_problems(exc: ValidationError) -> str:
    """One line per invalid setting: its variable, the value given and what is wrong with it."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        name = env_name(field) if field in Settings.model_fields else field
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}={error.get('input')!r}: {message}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
