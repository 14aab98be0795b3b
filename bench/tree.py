"""P3: one query for a run's whole version tree — SQL round trips per level (in-process) and latency (over HTTP)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.common import Ctx, Row, ms, pct, raw_id
from bench.gql import import_run, png
from bench.sqlcount import count_in_process
from bench.stack import cpu_seconds


@dataclass
class Node:
    """One refinement of the generated tree."""

    id: uuid.UUID
    parent: uuid.UUID
    parent_is_image: bool
    depth: int
    root: uuid.UUID
    generation_index: int


@dataclass
class Tree:
    """A generated version tree: its images, refinements by id, and the deepest refinement."""

    run_id: uuid.UUID
    images: list[uuid.UUID]
    nodes: dict[uuid.UUID, Node] = field(default_factory=dict)
    deepest: uuid.UUID | None = None

    def lineage(self, node_id: uuid.UUID) -> list[uuid.UUID]:
        """Ids from the root image down to the node's parent, as `ancestors` lists them."""
        chain = []
        node = self.nodes[node_id]
        while True:
            chain.append(node.parent)
            if node.parent_is_image:
                break
            node = self.nodes[node.parent]
        return chain[::-1]


def generate(
    run_id: uuid.UUID, images: list[uuid.UUID], count: int, chain_depth: int, chains: int, nesting: int, seed: int = 7
) -> Tree:
    """`chains` chains reaching `chain_depth`, the rest attached at random within `nesting` levels."""
    rng = random.Random(seed)
    tree = Tree(run_id=run_id, images=images)
    order: list[Node] = []

    def add(parent: uuid.UUID, parent_is_image: bool) -> Node:
        """Attach a new refinement under `parent`."""
        if parent_is_image:
            depth, root = 1, parent
        else:
            depth, root = tree.nodes[parent].depth + 1, tree.nodes[parent].root
        node = Node(
            id=uuid.uuid4(),
            parent=parent,
            parent_is_image=parent_is_image,
            depth=depth,
            root=root,
            generation_index=images.index(root),
        )
        tree.nodes[node.id] = node
        order.append(node)
        return node

    for c in range(min(chains, count // max(1, chain_depth))):
        parent, is_image = images[c % len(images)], True
        for _ in range(chain_depth):
            node = add(parent, is_image)
            parent, is_image = node.id, False
        tree.deepest = parent
    shallow: list[tuple[uuid.UUID, bool]] = [(i, True) for i in images]
    shallow += [(n.id, False) for n in order if n.depth < nesting]
    while len(tree.nodes) < count:
        parent, is_image = shallow[rng.randrange(len(shallow))]
        node = add(parent, is_image)
        if node.depth < nesting:
            shallow.append((node.id, False))
    if tree.deepest is None:
        tree.deepest = max(tree.nodes.values(), key=lambda n: n.depth).id
    return tree


async def insert_tree(ctx: Ctx, tree: Tree) -> None:
    """All refinements in one multi-row INSERT: COMPLETED, version = depth + 1, oldest first by creation order."""
    from sqlalchemy import insert

    from churns_gql.models import JobStatus, Refinement, RefinementType

    base = datetime.now(UTC) - timedelta(hours=1)
    rows: list[dict[str, Any]] = []
    for i, node in enumerate(tree.nodes.values()):
        created = base + timedelta(milliseconds=i)
        rows.append(
            {
                "id": node.id,
                "run_id": tree.run_id,
                "generation_index": node.generation_index,
                "version": node.depth + 1,
                "type": RefinementType.PROMPT,
                "status": JobStatus.COMPLETED,
                "prompt": f"bench v{node.depth + 1}",
                "creativity_level": 2,
                "parent_image_id": node.parent if node.parent_is_image else None,
                "parent_refinement_id": None if node.parent_is_image else node.parent,
                "image_path": f"refinements/{node.id}_from_{node.parent}.png",
                "width": 64,
                "height": 48,
                "summary": f"Prompt: bench v{node.depth + 1}",
                "cost_usd": 0.0,
                "created_at": created,
                "started_at": created,
                "completed_at": created + timedelta(milliseconds=1),
            }
        )
    async with ctx.db() as session:
        await session.execute(insert(Refinement), rows)
        await session.commit()


def tree_query(nesting: int) -> str:
    """`children` nested `nesting` deep under the run's images, `ancestors` on the innermost level,
    and the lineage of the deepest refinement."""
    inner = "id version status url ancestors { id version }"
    for _ in range(nesting - 1):
        inner = f"id version status url children {{ {inner} }}"
    return (
        "query Tree($run: ID!, $deep: ID!) {\n"
        f"  run(id: $run) {{ id images {{ id version children {{ {inner} }} }} }}\n"
        "  deepest: refinement(id: $deep) { id version ancestors { id version } }\n"
        "}"
    )


def levels(nesting: int) -> int:
    """Database-backed levels of tree_query: run, images, each children level, ancestors; deepest + its ancestors."""
    return 2 + nesting + 1 + 2


def check_answer(tree: Tree, data: dict[str, Any], nesting: int) -> dict[str, bool]:
    """Every node within `nesting` levels came back under its parent, with correct versions and ancestors."""
    from churns_gql.graphql.ids import encode_id

    gid = {i: encode_id("Image", i) for i in tree.images}
    gid.update({n: encode_id("Refinement", n) for n in tree.nodes})
    expected_children: dict[str, list[str]] = {gid[i]: [] for i in tree.images}
    for node in tree.nodes.values():
        expected_children.setdefault(gid[node.parent], []).append(gid[node.id])
    seen: set[str] = set()
    structure_ok = versions_ok = ancestors_ok = True

    def walk(obj: dict[str, Any], depth: int) -> None:
        """Compare one returned node's children with the generated tree, recursively."""
        nonlocal structure_ok, versions_ok, ancestors_ok
        children = obj.get("children")
        if depth >= nesting or children is None:
            return
        structure_ok &= sorted(c["id"] for c in children) == sorted(expected_children.get(obj["id"], []))
        for child in children:
            seen.add(child["id"])
            node = tree.nodes[raw_id(child["id"])]
            versions_ok &= child["version"] == node.depth + 1 and child["status"] == "COMPLETED" and bool(child["url"])
            if "ancestors" in child:
                want = [gid[a] for a in tree.lineage(node.id)]
                ancestors_ok &= [a["id"] for a in child["ancestors"]] == want
            walk(child, depth + 1)

    images = data["run"]["images"]
    for image in images:
        walk(image, 0)
    in_reach = {gid[n.id] for n in tree.nodes.values() if n.depth <= nesting}
    deepest = data["deepest"]
    want_deep = [gid[a] for a in tree.lineage(tree.deepest)] if tree.deepest else []
    return {
        "every image returned": sorted(i["id"] for i in images) == sorted(gid[i] for i in tree.images),
        f"every refinement within {nesting} levels returned": seen == in_reach,
        "children under the right parents": structure_ok,
        "versions, statuses and urls consistent": versions_ok,
        "ancestors of the innermost level correct": ancestors_ok,
        "ancestors of the deepest refinement correct": [a["id"] for a in deepest["ancestors"]] == want_deep,
    }


async def raw_fetch_floor(ctx: Ctx, tree: Tree, nesting: int, repeats: int) -> list[int]:
    """ns to fetch the same rows with one recursive CTE over raw asyncpg and encode them as JSON."""
    import json

    sql = """
    WITH RECURSIVE t AS (
      SELECT r.id, r.parent_image_id, r.parent_refinement_id, r.version, r.status, r.image_path, 1 AS depth
        FROM refinements r WHERE r.parent_image_id = ANY($1::uuid[])
      UNION ALL
      SELECT c.id, c.parent_image_id, c.parent_refinement_id, c.version, c.status, c.image_path, t.depth + 1
        FROM refinements c JOIN t ON c.parent_refinement_id = t.id WHERE t.depth < $2
    ) SELECT * FROM t"""
    conn = await asyncio.wait_for(asyncpg.connect(ctx.target.dsn), timeout=10)
    samples = []
    try:
        for i in range(repeats + 2):
            started = time.perf_counter_ns()
            rows = await conn.fetch(sql, tree.images, nesting)
            json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
            if i >= 2:
                samples.append(time.perf_counter_ns() - started)
    finally:
        await conn.close()
    return samples


async def p3_tree_query(ctx: Ctx) -> list[Row]:
    """P3: build the tree, count SQL per level in-process, time the query over HTTP against the server."""
    from churns_gql.graphql.ids import encode_id

    sizes = ctx.sizes
    run = await import_run(ctx.http, [png(64, 48, seed=i) for i in range(sizes.p3_images)])
    tree = generate(
        raw_id(run["id"]),
        [raw_id(i["id"]) for i in run["images"]],
        sizes.p3_refinements,
        sizes.p3_chain_depth,
        sizes.p3_chains,
        sizes.p3_nesting,
    )
    await insert_tree(ctx, tree)
    query = tree_query(sizes.p3_nesting)
    variables = {"run": run["id"], "deep": encode_id("Refinement", tree.deepest)}
    n_levels = levels(sizes.p3_nesting)
    max_depth = max(n.depth for n in tree.nodes.values())
    shape = f"{len(tree.nodes):,} refinements, depth ≤ {max_depth}, `children` × {sizes.p3_nesting} + `ancestors`"

    counted = await count_in_process(ctx, query, variables)
    rt = Row("P3a", f"tree query SQL per level: {shape}", target=f"≤ 1 SQL round trip per level ({n_levels} levels)")
    rt.figure = counted["statements"]
    rt.figure_text = f"{counted['statements']} statements ({counted['statements'] / n_levels:.2f}/level)"
    rt.reference = counted["wire_round_trips"]
    rt.reference_text = f"{counted['wire_round_trips']} wire round trips (info)"
    rt.ratio = round(counted["statements"] / n_levels, 2)
    rt.met = counted["statements"] <= n_levels

    samples, answer, cpu_before = [], None, 0.0
    async with httpx.AsyncClient(base_url=ctx.stack.base_url, timeout=60) as http:
        for i in range(sizes.p3_repeats + 2):
            if i == 2:
                cpu_before = cpu_seconds(ctx.api_pid)
            started = time.perf_counter_ns()
            response = await http.post("/graphql", json={"query": query, "variables": variables})
            elapsed = time.perf_counter_ns() - started
            if response.status_code != 200 or response.json().get("errors"):
                raise RuntimeError(f"tree query failed: HTTP {response.status_code}: {response.text[:500]}")
            if i == 0:
                answer, size = response.json()["data"], len(response.content)
            if i >= 2:
                samples.append(elapsed)
    # The API process's CPU (all its threads) over the timed requests: steadier than wall time on a busy machine.
    server_cpu = cpu_seconds(ctx.api_pid) - cpu_before
    checks = check_answer(tree, answer or {}, sizes.p3_nesting)
    rt.checks = checks
    floor = await raw_fetch_floor(ctx, tree, sizes.p3_nesting, sizes.p3_repeats)
    lat = Row("P3b", f"tree query latency over HTTP: {shape}", target="≤ 5× the raw CTE + JSON floor")
    p50, p90 = ms(pct(samples, 50)), ms(pct(samples, 90))
    lat.figure, lat.figure_text = p50, f"p50 {p50:.1f} ms (p90 {p90:.1f})"
    f50 = ms(pct(floor, 50))
    lat.reference, lat.reference_text = f50, f"raw CTE fetch + JSON p50 {f50:.1f} ms"
    lat.ratio = round(p50 / f50, 1) if f50 else None
    lat.met = lat.ratio is not None and lat.ratio <= 5.0
    lat.checks = checks
    returned = sum(1 for n in tree.nodes.values() if n.depth <= sizes.p3_nesting)
    common = {"refinements": len(tree.nodes), "max_depth": max_depth, "returned_nodes": returned, "levels": n_levels}
    rt.details = {**common, **counted}
    lat.details = {
        **common,
        "repeats": len(samples),
        "p50_ms": p50,
        "p90_ms": p90,
        "max_ms": ms(pct(samples, 100)),
        "response_bytes": size,
        "floor_p50_ms": f50,
        "server_cpu_ms_per_query": round(server_cpu * 1000 / max(1, len(samples)), 2),
    }
    return [rt, lat]
