"""Query root: node refetch, runs and refinements."""

from __future__ import annotations

from typing import Annotated, Optional

import strawberry
from graphql import FieldNode
from strawberry import relay

from churns_gql.db import Page
from churns_gql.graphql.access import load_visible
from churns_gql.graphql.active_jobs import ActiveJobs, resolve_active_jobs
from churns_gql.graphql.args import After, Before, First, Last, NodeId
from churns_gql.graphql.context import Info
from churns_gql.graphql.cursors import encode_cursor
from churns_gql.graphql.enums import JobStatus
from churns_gql.graphql.ids import decode_id, decode_id_of
from churns_gql.graphql.paging import RUNS, page_info, page_window
from churns_gql.graphql.types import Image, Refinement, Run, RunConnection
from churns_gql.graphql.usage import Me, resolve_me
from churns_gql.services import runs as run_service

_COUNT_ONLY = frozenset({"totalCount", "__typename"})


def _wants_rows(info: Info) -> bool:
    """False when the selection asks only for totalCount: the page's rows need not be read (P4+ in bench/).

    Every node of the field counts: `{ runs { totalCount } runs { edges { ... } } }` is one field whose
    selections graphql-core merges. The AST is read as it is (a fragment means rows): Strawberry's
    `selected_fields` would convert the whole selected subtree on every call, however large.
    """
    nodes = info._raw_info.field_nodes
    for node in nodes:
        selections = node.selection_set.selections if node.selection_set else ()
        if not selections or not all(isinstance(s, FieldNode) and s.name.value in _COUNT_ONLY for s in selections):
            return True
    return not nodes


async def load_node(info: Info, global_id: str) -> Optional[relay.Node]:
    """The object a global id names, or None."""
    decoded = decode_id(global_id)
    if decoded is None:
        return None
    type_name, raw_id = decoded
    row = await load_visible(info, type_name, raw_id)
    if row is None:
        return None
    if type_name == "Run":
        return Run.from_row(row)
    if type_name == "Image":
        return Image.from_row(row, info)
    return Refinement.from_row(row, info)


@strawberry.type(description="Read the runs, their images and their refinements.")
class Query:
    """The query root."""

    @strawberry.field(description="Refetch any object by its global id.")
    async def node(self, info: Info, id: NodeId) -> Optional[relay.Node]:
        """Any object by global id."""
        return await load_node(info, id)

    @strawberry.field(description="The caller: its token and its use of every per-token limit.")
    async def me(self, info: Info) -> Me:
        """The caller's usage against its limits."""
        return await resolve_me(info)

    @strawberry.field(description="The caller's QUEUED and RUNNING runs and refinements, oldest first.")
    async def active_jobs(self, info: Info) -> ActiveJobs:
        """What the caller is waiting for."""
        return await resolve_active_jobs(info)

    @strawberry.field(description="A run by global id.")
    async def run(self, info: Info, id: NodeId) -> Optional[Run]:
        """One run."""
        row = await load_visible(info, "Run", decode_id_of(id, "Run"))
        return Run.from_row(row) if row else None

    @strawberry.field(description="Runs, newest first.")
    async def runs(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[Optional[JobStatus], strawberry.argument(description="Only runs in this status.")] = None,
    ) -> RunConnection:
        """A page of runs."""
        window = page_window(RUNS, first=first, after=after, last=last, before=before)
        if not _wants_rows(info):
            total = await run_service.count_runs(
                info.context.services.read_engine(), status=status, caller=info.context.caller
            )
            return RunConnection(edges=[], page_info=page_info(Page([], False, total), []), total_count=total)
        async with info.context.services.reader()() as session:
            page = await run_service.list_runs(session, window=window, status=status, caller=info.context.caller)
        edges = [relay.Edge(cursor=encode_cursor(RUNS, r.created_at, r.id), node=Run.from_row(r)) for r in page.rows]
        return RunConnection(edges=edges, page_info=page_info(page, edges), total_count=page.total)

    @strawberry.field(description="A refinement by global id.")
    async def refinement(self, info: Info, id: NodeId) -> Optional[Refinement]:
        """One refinement."""
        row = await load_visible(info, "Refinement", decode_id_of(id, "Refinement"))
        return Refinement.from_row(row, info) if row else None
