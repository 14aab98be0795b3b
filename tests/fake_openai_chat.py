"""Chat completions of the fake OpenAI server: strict json_schema checks and answers that fit a schema."""

from __future__ import annotations

import json
import math
import time
from typing import Any


def _resolve(root: dict[str, Any], ref: str) -> Any:
    """The schema a local `#/...` reference points at, or None when it points nowhere."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def strict_schema_problem(schema: Any, path: str = "schema", root: dict[str, Any] | None = None) -> str | None:
    """Why a strict json_schema would be refused by the real API, or None when it is acceptable."""
    if not isinstance(schema, dict):
        return None
    if root is None:
        root = schema
        if schema.get("type") != "object" or "anyOf" in schema:
            return (
                f"In {path}: schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{schema.get('type')}\"'."
            )
    for name, sub in (schema.get("$defs") or {}).items():
        problem = strict_schema_problem(sub, f"{path}.$defs.{name}", root)
        if problem:
            return problem
    if "$ref" in schema:
        if _resolve(root, schema["$ref"]) is None:
            return f"In {path}: reference to component '{schema['$ref']}' which was not found in the schema."
        return None
    types = schema.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In {path}: 'additionalProperties' is required to be supplied and to be false."
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return f"In {path}: 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'."
        for key, sub in properties.items():
            problem = strict_schema_problem(sub, f"{path}.{key}", root)
            if problem:
                return problem
    for i, variant in enumerate(schema.get("anyOf") or []):
        problem = strict_schema_problem(variant, f"{path}.anyOf[{i}]", root)
        if problem:
            return problem
    if "items" in schema:
        return strict_schema_problem(schema["items"], f"{path}[]", root)
    return None


def schema_instance(
    schema: dict[str, Any], key: str = "value", index: int = 0, root: dict[str, Any] | None = None
) -> Any:
    """A deterministic value that fits `schema` (arrays get 4 items): what the fake answers with."""
    root = schema if root is None else root
    if "$ref" in schema:
        return schema_instance(_resolve(root, schema["$ref"]), key, index, root)
    if "anyOf" in schema:
        variant = next(v for v in schema["anyOf"] if v.get("type") != "null")
        return schema_instance(variant, key, index, root)
    types = schema.get("type")
    kind = types if isinstance(types, str) else next(t for t in types if t != "null")
    if "enum" in schema:
        return schema["enum"][index % len(schema["enum"])]
    if kind == "object":
        return {k: schema_instance(sub, k, index, root) for k, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [schema_instance(schema["items"], key, i, root) for i in range(4)]
    if kind == "integer" or kind == "number":
        return max(schema.get("minimum", 0), min(schema.get("maximum", 4), 4))
    if kind == "boolean":
        return False
    if schema.get("pattern", "").startswith("^#"):
        return f"#{40 + 50 * index:02X}{90:02X}{160 - 30 * index:02X}"
    return f"{key.replace('_', ' ')} {index + 1}"


def schema_answer(body: dict[str, Any]) -> str:
    """A chat answer for `body`: a valid instance of its json_schema response format, or "OK"."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return "OK"
    return json.dumps(schema_instance(response_format["json_schema"]["schema"]))


def chat_body(
    content: str, model: str = "gpt-5.4-mini", prompt_tokens: int = 100, answer_id: str = "chatcmpl-scripted"
) -> dict[str, Any]:
    """A complete chat.completion answer carrying `content`, with usage; what the fake answers chat with."""
    completion_tokens = max(1, math.ceil(len(content) / 4))
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
