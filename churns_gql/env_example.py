""".env.example, written from the Settings model: every variable with its description and default.

Run `python -m churns_gql.env_example > .env.example` (or `make env-example`) after changing a setting;
tests/test_config.py fails while the committed file differs from this output.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from churns_gql.config import Settings, env_name

HEADER = """\
# Every setting of churns-gql, with its default. Copy to .env (or export) and change what you need.
# Generated from churns_gql/config.py by `python -m churns_gql.env_example`; edit the descriptions there.
"""
WIDTH = 118


def _value(value: Any) -> str:
    """A default as the environment spells it: 1/0 for flags, comma-separated lists."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def _line(name: str, field: FieldInfo) -> str:
    """`NAME=default`, commented out when the default is unset or depends on where the package lives."""
    if field.default_factory is not None:
        # A computed default (e.g. a path inside the installation) is shown by its example, never by its value.
        return f"# {name}={_value((field.examples or [''])[0])}"
    if field.default is None:
        return f"# {name}="
    return f"{name}={_value(field.default)}"


def render() -> str:
    """The text of .env.example for the current Settings model."""
    blocks = [HEADER]
    for field_name, field in Settings.model_fields.items():
        description = " ".join((field.description or "").split())
        comment = textwrap.fill(description, WIDTH, initial_indent="# ", subsequent_indent="# ")
        blocks.append(f"{comment}\n{_line(env_name(field_name), field)}\n")
    return "\n".join(blocks)


def main() -> int:
    """Print .env.example to standard output."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
