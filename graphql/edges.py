"""Where a GraphQL field meets the domain: authentication, one savepoint per mutation, typed errors.

Every root field but ``health`` is declared with :func:`query_field` or :func:`mutation_field`, so no
resolver can forget to authenticate; a schema-walking test keeps it that way.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from cellorg.core.db import atomic
from cellorg.core.errors import DomainError
from cellorg.graphql.errors import error_result, graphql_error

Resolver = Callable[..., Awaitable[Any]]


class QueryEdge(FieldExtension):
    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        info.context.require_viewer()
        try:
            return next_(source, info, **kwargs)
        except DomainError as error:
            raise graphql_error(error) from error

    async def resolve_async(self, next_: Resolver, source: Any, info: Info, **kwargs: Any) -> Any:
        info.context.require_viewer()
        try:
            return await next_(source, info, **kwargs)
        except DomainError as error:
            raise graphql_error(error) from error


class MutationEdge(FieldExtension):
    """Runs the mutation in a savepoint; an expected failure undoes it and comes back typed."""

    async def resolve_async(self, next_: Resolver, source: Any, info: Info, **kwargs: Any) -> Any:
        info.context.require_viewer()
        try:
            async with atomic(info.context.db):
                return await next_(source, info, **kwargs)
        except DomainError as error:
            return error_result(error)


def query_field(**kwargs: Any) -> Any:
    return strawberry.field(extensions=[QueryEdge()], **kwargs)


def mutation_field(**kwargs: Any) -> Any:
    return strawberry.mutation(extensions=[MutationEdge()], **kwargs)
