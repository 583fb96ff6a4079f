"""Walk the whole schema: every query refuses an anonymous caller, every mutation a caller without grants."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.graphql.schema import build_schema
from cellorg.org.models import Dimension, Membership, Person, Unit
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.models import Grant
from cellorg.permissions.service import end_all_grants_of
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)
from tests.conftest import Api, OrgBuilder

SCHEMA = build_schema()._schema
PUBLIC_QUERIES = {"health"}
QUERIES = sorted(name for name in SCHEMA.query_type.fields if name not in PUBLIC_QUERIES)  # type: ignore[union-attr]
MUTATIONS = sorted(SCHEMA.mutation_type.fields)  # type: ignore[union-attr]


def sample_value(type_: GraphQLInputType) -> Any:
    """A well-formed value for any input type: the walk needs arguments that pass GraphQL validation."""
    if isinstance(type_, GraphQLNonNull):
        return sample_value(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [sample_value(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {name: sample_value(field.type) for name, field in type_.fields.items()}
    assert isinstance(type_, GraphQLScalarType)
    samples = {
        "Int": 1,
        "String": "x",
        "Boolean": False,
        "DateTime": datetime(2030, 1, 1, tzinfo=UTC).isoformat(),
        "ID": "1",
        "Float": 1.0,
        "Decimal": "1",
        "Date": "2030-01-01",
        "JSON": {},
    }
    return samples[type_.name]


def operation(kind: str, name: str, field: GraphQLField) -> tuple[str, dict[str, Any]]:
    """A document calling one root field with sample variables, selecting only ``__typename`` of an object."""
    declarations = ", ".join(f"${arg}: {spec.type}" for arg, spec in field.args.items())
    arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    variables = {arg: sample_value(spec.type) for arg, spec in field.args.items()}
    header = f"{kind} Walk({declarations})" if declarations else kind
    call = f"{name}({arguments})" if arguments else name
    selection = "" if isinstance(get_named_type(field.type), GraphQLScalarType) else " { __typename }"
    return f"{header} {{ {call}{selection} }}", variables


async def row_counts(session: AsyncSession) -> dict[str, int]:
    return {
        model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Person, Unit, Dimension, Membership, Grant)
    }


def test_the_walk_covers_every_root_field() -> None:
    assert len(QUERIES) >= 7
    assert len(MUTATIONS) >= 11
    assert "createPerson" in MUTATIONS
    assert "claimSkill" in MUTATIONS
    assert "revokeGrant" in MUTATIONS


@pytest.mark.parametrize(
    ("kind", "name"), [("query", name) for name in QUERIES] + [("mutation", name) for name in MUTATIONS]
)
async def test_every_operation_refuses_an_anonymous_caller(api: Api, kind: str, name: str) -> None:
    root = SCHEMA.query_type if kind == "query" else SCHEMA.mutation_type
    document, variables = operation(kind, name, root.fields[name])  # type: ignore[union-attr]
    result = await api.post(document, variables)
    assert result["data"] is None
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("name", MUTATIONS)
async def test_mutation_refuses_a_caller_without_grants_and_writes_nothing(
    api: Api, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, name: str
) -> None:
    home = await build.unit("Walk Region")
    member = await build.person("No Grants", home_unit=home)
    await end_all_grants_of(session, policy, subject_of_person(member.id), ended_by=None, reason="walk")
    await build.commit()
    before = await row_counts(session)
    document, variables = operation("mutation", name, SCHEMA.mutation_type.fields[name])  # type: ignore[union-attr]
    result = await api.query(document, variables, as_=member)
    assert "errors" not in result, result
    assert result["data"][name]["__typename"] == "PermissionDenied"
    assert await row_counts(session) == before
