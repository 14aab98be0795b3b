"""Small argument helpers of the churns-gql command: the version, positive integers, serve's --host/--port."""

from __future__ import annotations

import argparse

from churns_gql.config import Settings


def version() -> str:
    """The installed package's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("churns-gql")
    except PackageNotFoundError:
        return "unknown"


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def serve_settings(settings: Settings, host: str | None, port: int | None) -> Settings:
    """Settings with --host/--port applied over the environment's (flags win; unset flags keep the env)."""
    return settings.with_changes(
        host=host if host is not None else settings.host, port=port if port is not None else settings.port
    )
