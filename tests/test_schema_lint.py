"""Schema lint: every type, field, argument, input field and enum value of the served schema is described."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
)

from churns_gql.graphql.schema import schema
from tests.conftest import ROOT

# The spec's own scalars are described by the spec.
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def undescribed(graphql_schema: GraphQLSchema) -> list[str]:
    """Every schema element without a description, named like `Type.field(arg)`."""
    missing = []
    for name, kind in graphql_schema.type_map.items():
        if name.startswith("__") or (isinstance(kind, GraphQLScalarType) and name in BUILT_IN):
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, spec in kind.values.items() if not spec.description]
    return missing


def test_the_served_schema_describes_everything():
    assert undescribed(schema._schema) == []


def test_the_committed_sdl_describes_everything():
    assert undescribed(build_schema((ROOT / "schema.graphql").read_text())) == []


def test_the_lint_catches_what_it_looks_for():
    sdl = """"The root." type Query { "A field." a(x: Int): E  b: Int }  "An enum." enum E { "One." ONE TWO }"""
    assert undescribed(build_schema(sdl)) == ["Query.a(x)", "Query.b", "E.TWO"]
