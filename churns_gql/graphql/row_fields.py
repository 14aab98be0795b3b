"""Plain fields of the version types read straight from a table row, exactly as `from_model` fills them.

The tree executor (graphql/tree_exec.py) reads `id version status url` of a thousand nodes from their rows
instead of building a Strawberry object for each (bench P3b); tests/test_tree_exec.py checks every field
against graphql-core's own execution over the objects.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from operator import attrgetter
from typing import Any

from churns_gql import models
from churns_gql.graphql.types import Image, Refinement
from churns_gql.storage import RunStorage

RowGetter = Callable[[Any], Any]


def _refinement_url(storage: RunStorage) -> RowGetter:
    completed = models.JobStatus.COMPLETED

    def url(row: Any) -> Any:
        return storage.url(row.run_id, row.image_path) if row.status == completed else None

    return url


def _derived(type_name: str, storage: RunStorage) -> dict[str, RowGetter | None]:
    """Fields whose value is not the row's column of the same name; None: only the object has it."""
    if type_name == "Image":
        return {"version": lambda row: 1, "url": lambda row: storage.url(row.run_id, row.path)}
    return {
        "url": _refinement_url(storage),
        "reference_image_url": lambda row: storage.url(row.run_id, row.reference_image_path),
        "mask": None,
    }


def row_getter(type_name: str, python_name: str, storage: RunStorage) -> RowGetter | None:
    """How to read a field of an Image or Refinement from its row, or None when only the object can."""
    derived = _derived(type_name, storage)
    if python_name in derived:
        return derived[python_name]
    return attrgetter(python_name) if python_name in _columns(type_name) else None


@lru_cache(maxsize=2)
def _columns(type_name: str) -> frozenset[str]:
    """The column names of the type's table: what its rows carry."""
    return frozenset((models.Image if type_name == "Image" else models.Refinement).__table__.c.keys())


def object_maker(type_name: str, storage: RunStorage) -> Callable[[Any], Any]:
    """The Strawberry object of a row, for the fields graphql-core completes itself."""
    if type_name == "Image":
        return lambda row: Image.from_model(row, storage)
    return lambda row: Refinement.from_model(row, storage)
