"""The soak's mixed load: imports, refinements, cancels and live subscriptions, through real HTTP and websockets."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

IMPORT = """mutation($input: ImportRunInput!) { importRun(input: $input) {
  run { id images { id } } userErrors { code } } }"""
REFINE = """mutation($input: RefineImageInput!) { refineImage(input: $input) {
  refinement { id status } userErrors { code message } } }"""
CANCEL = "mutation($id: ID!) { cancelRefinement(id: $id) { refinement { id status } userErrors { code } } }"
PROGRESS = "subscription($id: ID!) { refinementProgress(id: $id) { seq terminal } }"
PROMPTS = ("make it warmer", "a bit brighter", "more contrast", "black and white", "cooler and 20% darker")


@dataclass
class Subscription:
    """What one subscriber saw: the seqs in order and how the stream ended."""

    job_id: str
    seqs: list[int] = field(default_factory=list)
    end: str = "open"


class Load:
    """Drives the API at a steady pace until told to stop; remembers what it was told was accepted."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, tally: Any, make_png: Callable[[int], bytes]) -> None:
        self.http = http
        self.ws_url = base_url.replace("http://", "ws://") + "/graphql"
        self.tally = tally
        self.make_png = make_png
        self.rng = random.Random(11)
        self.images: list[str] = []
        self.accepted: list[str] = []
        self.subscriptions: list[Subscription] = []
        self._watchers: set[asyncio.Task[None]] = set()

    async def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        """A GraphQL POST; None (and a tally) when the API is down or answers with an error."""
        try:
            response = await self.http.post("/graphql", json={"query": query, "variables": variables})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.tally.requests[f"unreachable ({exc.__class__.__name__})"] += 1
            return None
        if body.get("errors"):
            self.tally.requests[f"error {body['errors'][0].get('extensions', {}).get('code')}"] += 1
            return None
        self.tally.requests[f"HTTP {response.status_code}"] += 1
        return body["data"]

    async def import_run(self) -> None:
        """Import a run of two images."""
        variables = {"input": {"images": [None, None], "prompt": "soak"}}
        seed = self.rng.randint(0, 10_000)
        files = {f"input.images.{i}": (f"{i}.png", self.make_png(seed + i), "image/png") for i in range(2)}
        operations = json.dumps({"query": IMPORT, "variables": variables})
        mapping = json.dumps({name: [f"variables.{name}"] for name in files})
        try:
            response = await self.http.post(
                "/graphql",
                data={"operations": operations, "map": mapping},
                files={k: v for k, v in files.items()},
                headers={"Apollo-Require-Preflight": "true"},
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.tally.requests[f"import failed ({exc.__class__.__name__})"] += 1
            return
        if body.get("errors"):
            # A top-level error (an outage) comes with data null: tally its code, as every other answer is.
            self.tally.requests[f"error {body['errors'][0].get('extensions', {}).get('code')}"] += 1
            return
        self.tally.requests[f"HTTP {response.status_code}"] += 1
        payload = body["data"]["importRun"]
        if payload["run"]:
            self.images += [image["id"] for image in payload["run"]["images"]]
            self.tally.work["imports"] += 1
        else:
            self.tally.requests[f"import refused {payload['userErrors'][0]['code']}"] += 1

    async def refine(self) -> None:
        """Refine a random image or an accepted refinement (a refused parent not yet done is fine)."""
        parents = self.images + self.accepted[-20:]
        if not parents:
            return
        data = await self._post(
            REFINE,
            {"input": {"parentId": self.rng.choice(parents), "type": "PROMPT", "prompt": self.rng.choice(PROMPTS)}},
        )
        if data is None:
            return
        payload = data["refineImage"]
        if payload["userErrors"]:
            self.tally.requests[f"refine refused {payload['userErrors'][0]['code']}"] += 1
        if payload["refinement"] and not payload["userErrors"]:
            self.accepted.append(payload["refinement"]["id"])
            self.tally.work["refinements accepted"] += 1
            if self.rng.random() < 0.3:
                self._watch(payload["refinement"]["id"])

    async def cancel(self) -> None:
        """Cancel a recent refinement (CONFLICT when it already finished)."""
        if self.accepted:
            data = await self._post(CANCEL, {"id": self.rng.choice(self.accepted[-10:])})
            if data and data["cancelRefinement"]["refinement"]:
                self.tally.work["cancels"] += 1

    def _watch(self, job_id: str) -> None:
        """Follow a job's progress in the background, resubscribing after a drop."""
        task = asyncio.create_task(self._follow(job_id))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _follow(self, job_id: str, attempts: int = 8) -> None:
        for _ in range(attempts):
            sub = Subscription(job_id)
            self.subscriptions.append(sub)
            await self._subscribe_once(sub)
            if sub.end == "terminal":
                return
            await asyncio.sleep(1.0)

    async def _subscribe_once(self, sub: Subscription) -> None:
        """One websocket subscription until its terminal event, an error message or a dropped socket."""
        try:
            async with connect(self.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": PROGRESS, "variables": {"id": sub.job_id}},
                        }
                    )
                )
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif message["type"] == "next" and message["payload"].get("errors"):
                        code = message["payload"]["errors"][0].get("extensions", {}).get("code")
                        self.tally.requests[f"error {code}"] += 1
                        sub.end = f"error {code}"
                        return
                    elif message["type"] == "next":
                        event = message["payload"]["data"]["refinementProgress"]
                        sub.seqs.append(event["seq"])
                        if event["terminal"]:
                            sub.end = "terminal"
                            return
                    elif message["type"] in ("error", "complete"):
                        sub.end = f"{message['type']} message"
                        return
                sub.end = "closed"
        except (TimeoutError, ConnectionClosed, WebSocketException, OSError) as exc:
            sub.end = f"dropped ({exc.__class__.__name__})"
        except (KeyError, TypeError) as exc:
            # A message this client did not expect is the soak's bug (or the API's): count it, do not hide it.
            self.tally.requests[f"subscription failed ({exc.__class__.__name__})"] += 1
            sub.end = f"client crash ({exc.__class__.__name__})"

    async def run(self, stop: asyncio.Event) -> None:
        """Mixed load, a few operations a second, until `stop`."""
        await self.import_run()
        while not stop.is_set():
            roll = self.rng.random()
            if roll < 0.1 or not self.images:
                await self.import_run()
            elif roll < 0.8:
                await self.refine()
            else:
                await self.cancel()
            await asyncio.sleep(0.15)
        await asyncio.gather(*self._watchers, return_exceptions=True)
