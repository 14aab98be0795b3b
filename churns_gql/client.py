"""Client commands of churns-gql: talk to a running server over GraphQL (HTTP and graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from churns_gql.global_ids import decode_id


class ClientError(Exception):
    """The server refused the request; the message says why."""


class Client:
    """A small GraphQL client bound to one server and an optional API token."""

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 60) -> None:
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, files: dict[str, Path] | None = None
    ) -> dict[str, Any]:
        """Run one operation; `files` maps variable paths (input.images.0) to files sent as multipart."""
        async with httpx.AsyncClient(base_url=self.server, headers=self.headers, timeout=self.timeout) as http:
            try:
                if files:
                    handles = {
                        str(i): (p.name, p.read_bytes(), mimetypes.guess_type(p.name)[0] or "application/octet-stream")
                        for i, p in enumerate(files.values())
                    }
                    response = await http.post(
                        "/graphql",
                        headers={"Apollo-Require-Preflight": "true"},
                        data={
                            "operations": json.dumps({"query": query, "variables": variables or {}}),
                            "map": json.dumps({str(i): [f"variables.{k}"] for i, k in enumerate(files)}),
                        },
                        files=handles,
                    )
                else:
                    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
            except httpx.TransportError as exc:
                raise ClientError(
                    f"cannot reach {self.server} ({exc.__class__.__name__}); is the server running?"
                ) from None
        if response.status_code != 200:
            raise ClientError(f"{response.status_code}: {response.text[:300]}")
        body = response.json()
        if body.get("errors"):
            raise ClientError("; ".join(e["message"] for e in body["errors"]))
        return body["data"]

    async def subscribe(self, query: str, variables: dict[str, Any]) -> Any:
        """Yield each `next` payload's data until the server completes the subscription."""
        from websockets.asyncio.client import connect

        url = self.server.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/graphql"
        payload = {"authorization": self.headers["Authorization"]} if self.headers else {}
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), self.timeout))
            if ack.get("type") != "connection_ack":
                raise ClientError("the server refused the websocket connection")
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
            )
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    if message["payload"].get("errors"):
                        raise ClientError("; ".join(e["message"] for e in message["payload"]["errors"]))
                    yield message["payload"]["data"]
                elif message["type"] == "error":
                    raise ClientError("; ".join(e["message"] for e in message["payload"]))
                elif message["type"] == "complete":
                    return


def _errors(payload: dict[str, Any]) -> None:
    if payload.get("userErrors"):
        lines = [f"{'.'.join(e['field'] or []) or '-'}: {e['message']} ({e['code']})" for e in payload["userErrors"]]
        raise ClientError("\n".join(lines))


RUNS = """query($first: Int, $status: JobStatus) { runs(first: $first, status: $status) { totalCount
  edges { node { id status prompt createdAt totalCostUsd images { id } } } } }"""
IMPORT = """mutation($input: ImportRunInput!) { importRun(input: $input) {
  run { id status images { id width height } } userErrors { field message code } } }"""
REFINE = """mutation($input: RefineImageInput!) { refineImage(input: $input) {
  refinement { id status version } userErrors { field message code } } }"""
CANCEL_REFINEMENT = """mutation($id: ID!) { cancelRefinement(id: $id) { refinement { id status } userErrors { field message code } } }"""
CANCEL_RUN = """mutation($id: ID!) { cancelRun(id: $id) { run { id status } userErrors { field message code } } }"""
PROGRESS = """subscription($id: ID!) { refinementProgress(id: $id) { seq stage status progress message terminal } }"""
_LEVELS = "children { ...R " * 5 + "}" * 5
TREE = (
    "query($id: ID!) { run(id: $id) { id status prompt totalCostUsd images { id version path "
    + _LEVELS
    + " } } } fragment R on Refinement { id version type status summary costUsd }"
)
SUBTREE = (
    "query($id: ID!) { refinement(id: $id) { "
    + _LEVELS
    + " } } fragment R on Refinement { id version type status summary costUsd }"
)


def progress_bar(fraction: float, label: str, width: int = 30) -> str:
    """One line of a text progress bar, e.g. `[#######.......]  50% prompt_refine`."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {round(fraction * 100):3d}% {label}"


async def runs(client: Client, out: TextIO, first: int, status: str | None) -> None:
    """Print the newest runs."""
    data = (await client.execute(RUNS, {"first": first, "status": status}))["runs"]
    for edge in data["edges"]:
        run = edge["node"]
        out.write(
            f"{run['id']}  {run['status']:<9} {len(run['images'])} img  ${run['totalCostUsd']:.4f}  "
            f"{(run['prompt'] or '')[:50]}\n"
        )
    out.write(f"{len(data['edges'])} of {data['totalCount']} runs\n")


async def import_files(
    client: Client, out: TextIO, files: list[Path], prompt: str | None, metadata: Path | None
) -> str:
    """Import images as a run; prints the run and its image ids."""
    variables: dict[str, Any] = {"input": {"images": [None] * len(files), "prompt": prompt}}
    if metadata is not None:
        variables["input"]["metadata"] = json.loads(metadata.read_text())
    payload = (await client.execute(IMPORT, variables, {f"input.images.{i}": f for i, f in enumerate(files)}))[
        "importRun"
    ]
    _errors(payload)
    run = payload["run"]
    out.write(f"run {run['id']} {run['status']}\n")
    for i, image in enumerate(run["images"]):
        out.write(f"  image {i}: {image['id']} ({image['width']}×{image['height']})\n")
    return run["id"]


def parse_rect(text: str) -> dict[str, float]:
    """x,y,w,h in fractions of the image."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"--mask takes x,y,width,height, not {text!r}")
    return dict(zip(("x", "y", "width", "height"), parts, strict=True))


async def refine(
    client: Client,
    out: TextIO,
    parent: str,
    kind: str,
    *,
    prompt: str | None,
    instructions: str | None,
    masks: list[str],
    reference: Path | None,
    creativity: int,
    watch: bool,
) -> str:
    """Queue a refinement; with `watch`, follow its progress to the end."""
    variables: dict[str, Any] = {
        "input": {
            "parentId": parent,
            "type": kind.upper(),
            "prompt": prompt,
            "instructions": instructions,
            "mask": [parse_rect(m) for m in masks] or None,
            "creativityLevel": creativity,
        }
    }
    files = None
    if reference is not None:
        variables["input"]["referenceImage"] = None
        files = {"input.referenceImage": reference}
    payload = (await client.execute(REFINE, variables, files))["refineImage"]
    _errors(payload)
    ref = payload["refinement"]
    out.write(f"refinement {ref['id']} v{ref['version']} {ref['status']}\n")
    if watch:
        await watch_refinement(client, out, ref["id"])
    return ref["id"]


async def watch_refinement(client: Client, out: TextIO, refinement_id: str) -> str:
    """Draw a progress bar from refinementProgress until the terminal event; returns the final status."""
    status = "UNKNOWN"
    async for data in client.subscribe(PROGRESS, {"id": refinement_id}):
        event = data["refinementProgress"]
        label = event["stage"] if not event["terminal"] else event["status"]
        out.write("\r" + progress_bar(event["progress"], label))
        out.flush()
        if event["terminal"]:
            status = event["status"]
            out.write("\n")
            if event["message"] and status != "COMPLETED":
                out.write(f"{event['message']}\n")
    return status


async def cancel(client: Client, out: TextIO, job_id: str) -> None:
    """Cancel a refinement or a run's generation, by global id."""
    decoded = decode_id(job_id)
    if decoded and decoded[0] == "Run":
        payload = (await client.execute(CANCEL_RUN, {"id": job_id}))["cancelRun"]
        _errors(payload)
        out.write(f"run {job_id} {payload['run']['status']}\n")
        return
    payload = (await client.execute(CANCEL_REFINEMENT, {"id": job_id}))["cancelRefinement"]
    _errors(payload)
    out.write(f"refinement {job_id} {payload['refinement']['status']}\n")


async def _expand(client: Client, node: dict[str, Any]) -> None:
    """Fill in `children` below the depth one query reaches, by querying those subtrees in turn."""
    for child in node.get("children") or []:
        if "children" not in child:
            child["children"] = (await client.execute(SUBTREE, {"id": child["id"]}))["refinement"]["children"]
        await _expand(client, child)


def _tree_lines(node: dict[str, Any], depth: int) -> list[str]:
    lines = []
    for child in node.get("children") or []:
        cost = f" ${child['costUsd']:.4f}" if child.get("costUsd") else ""
        lines.append(
            f"{'  ' * depth}└─ v{child['version']} {child['type']:<7} {child['status']:<9} "
            f"{child['id']}{cost}  {child.get('summary') or ''}".rstrip()
        )
        lines += _tree_lines(child, depth + 1)
    return lines


async def tree(client: Client, out: TextIO, run_id: str) -> None:
    """Print a run's version tree, however deep its chains."""
    run = (await client.execute(TREE, {"id": run_id}))["run"]
    if run is None:
        raise ClientError("no run with that id")
    for image in run["images"]:
        await _expand(client, image)
    out.write(f"run {run['id']} {run['status']} ${run['totalCostUsd']:.4f}  {run['prompt'] or ''}".rstrip() + "\n")
    for image in run["images"]:
        out.write(f"v1 {image['path']}  {image['id']}\n")
        for line in _tree_lines(image, 1):
            out.write(line + "\n")


def main(args: Any) -> int:
    """Run one client command from parsed arguments; errors are one line, never a traceback."""
    client = Client(args.server, args.token)
    out = sys.stdout
    try:
        if args.command == "runs":
            asyncio.run(runs(client, out, args.first, args.status))
        elif args.command == "import":
            asyncio.run(
                import_files(
                    client,
                    out,
                    [Path(f) for f in args.files],
                    args.prompt,
                    Path(args.metadata) if args.metadata else None,
                )
            )
        elif args.command == "refine":
            asyncio.run(
                refine(
                    client,
                    out,
                    args.parent,
                    args.type,
                    prompt=args.prompt,
                    instructions=args.instructions,
                    masks=args.mask or [],
                    reference=Path(args.reference) if args.reference else None,
                    creativity=args.creativity,
                    watch=args.watch,
                )
            )
        elif args.command == "cancel":
            asyncio.run(cancel(client, out, args.id))
        elif args.command == "tree":
            asyncio.run(tree(client, out, args.run_id))
    except (ClientError, ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0
