"""Lint, format and types are part of the test suite: `ruff check`, `ruff format --check` and mypy (strict on services
and graphql) pass."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]


def test_the_rule_set_is_not_weakened() -> None:
    ruff = _config()["ruff"]
    assert {"E", "F", "W", "I", "B", "UP", "SIM"} <= set(ruff["lint"]["select"])
    assert "format" in ruff
    strict = next(o for o in _config()["mypy"]["overrides"] if "churns_gql.services.*" in o["module"])
    assert "churns_gql.graphql.*" in strict["module"]
    for flag in (
        "disallow_untyped_defs",
        "disallow_any_generics",
        "warn_return_any",
        "check_untyped_defs",
        "no_implicit_reexport",
        "strict_equality",
    ):
        assert strict[flag] is True, flag


def test_ruff_check_passes() -> None:
    result = _run(str(BIN / "ruff"), "check", "--no-cache", "churns_gql", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted() -> None:
    result = _run(str(BIN / "ruff"), "format", "--check", "--no-cache", "churns_gql", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
