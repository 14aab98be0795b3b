"""GraphQL over HTTP for the scenarios: queries, importRun uploads, refineImage, and test images."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx

IMPORT_RUN = """mutation($input: ImportRunInput!) {
  importRun(input: $input) { run { id images { id width height } } userErrors { field message code } }
}"""

REFINE = """mutation($input: RefineImageInput!) {
  refineImage(input: $input) { refinement { id } userErrors { field message code } }
}"""


class GraphQLError(RuntimeError):
    """A GraphQL request answered with errors or a non-200 status."""


async def execute(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a JSON request and return `data`, raising on any error."""
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    if response.status_code != 200:
        raise GraphQLError(f"HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    if body.get("errors"):
        raise GraphQLError(json.dumps(body["errors"])[:1000])
    return body["data"]


def png(width: int, height: int, *, textured: bool = False, seed: int = 0) -> bytes:
    """A PNG; `textured` adds gradients and noise so encoding and decoding cost what a photo would."""
    from PIL import Image, ImageChops

    if not textured:
        image = Image.new("RGB", (width, height), (200 - seed % 100, 40, 40 + seed % 100))
    else:
        gradient = Image.radial_gradient("L").resize((width, height))
        noise = Image.effect_noise((width, height), 48)
        ramp = Image.linear_gradient("L").resize((width, height))
        image = Image.merge("RGB", (gradient, ImageChops.add(ramp, noise, scale=2.0), noise))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def import_run(http: httpx.AsyncClient, images: list[bytes]) -> dict[str, Any]:
    """importRun with the given PNGs (multipart, with the CSRF preflight header); returns the run."""
    operations = {"query": IMPORT_RUN, "variables": {"input": {"images": [None] * len(images)}}}
    file_map = {str(i): [f"variables.input.images.{i}"] for i in range(len(images))}
    files = {str(i): (f"image_{i}.png", data, "image/png") for i, data in enumerate(images)}
    response = await http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(file_map)},
        files=files,
        headers={"Apollo-Require-Preflight": "true"},
    )
    if response.status_code != 200:
        raise GraphQLError(f"importRun: HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    payload = (body.get("data") or {}).get("importRun") or {}
    if body.get("errors") or payload.get("userErrors") or not payload.get("run"):
        raise GraphQLError(f"importRun failed: {json.dumps(body)[:1000]}")
    return payload["run"]


def refine_variables(parent_id: str, prompt: str) -> dict[str, Any]:
    """refineImage variables for a PROMPT refinement without an upload."""
    return {"input": {"parentId": parent_id, "type": "PROMPT", "prompt": prompt}}


async def refine(http: httpx.AsyncClient, parent_id: str, prompt: str) -> str:
    """refineImage; returns the new refinement's global id."""
    payload = (await execute(http, REFINE, refine_variables(parent_id, prompt)))["refineImage"]
    if payload["userErrors"] or not payload["refinement"]:
        raise GraphQLError(f"refineImage refused: {payload['userErrors']}")
    return str(payload["refinement"]["id"])


async def refine_input(http: httpx.AsyncClient, variables: dict[str, Any], reference: bytes | None = None) -> str:
    """refineImage with any input, the reference (if any) as a multipart upload; returns the refinement's id."""
    if reference is None:
        body = await execute(http, REFINE, variables)
    else:
        variables = {"input": {**variables["input"], "referenceImage": None}}
        operations = {"query": REFINE, "variables": variables}
        response = await http.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.referenceImage"]})},
            files={"0": ("reference.png", reference, "image/png")},
            headers={"Apollo-Require-Preflight": "true"},
        )
        if response.status_code != 200 or response.json().get("errors"):
            raise GraphQLError(f"refineImage: HTTP {response.status_code}: {response.text[:500]}")
        body = response.json()["data"]
    payload = body["refineImage"]
    if payload["userErrors"] or not payload["refinement"]:
        raise GraphQLError(f"refineImage refused: {payload['userErrors']}")
    return str(payload["refinement"]["id"])
