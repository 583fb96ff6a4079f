"""Typed GraphQL results for expected failures, and the errors that are never masked."""

from typing import Any

import strawberry

from cellorg.core.errors import DomainError, NotFoundError, PermissionDeniedError, ValidationFailed
from graphql import GraphQLError

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
BAD_INPUT = "BAD_USER_INPUT"
_SHOWN_CODES = {UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_INPUT}


@strawberry.interface(description="An expected failure; nothing was written.")
class Error:
    message: str


@strawberry.type(description="The input breaks a rule; `field` names the offending argument.")
class ValidationError(Error):
    field: str | None


@strawberry.type(description="A referenced object does not exist.")
class NotFound(Error):
    entity: str
    id: str


@strawberry.type(description="The caller holds no live grant for this action in this scope.")
class PermissionDenied(Error):
    action: str
    scope: str


def error_result(error: DomainError) -> ValidationError | NotFound | PermissionDenied:
    if isinstance(error, NotFoundError):
        return NotFound(message=error.message, entity=error.entity, id=error.entity_id)
    if isinstance(error, PermissionDeniedError):
        return PermissionDenied(message=error.message, action=error.action, scope=error.scope)
    if isinstance(error, ValidationFailed):
        return ValidationError(message=error.message, field=error.field)
    return ValidationError(message=error.message, field=None)


def coded_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def graphql_error(error: DomainError) -> GraphQLError:
    """A domain failure outside a mutation (in a query) as a GraphQL error with a code."""
    if isinstance(error, NotFoundError):
        return coded_error(error.message, NOT_FOUND, entity=error.entity, id=error.entity_id)
    if isinstance(error, PermissionDeniedError):
        return coded_error(error.message, FORBIDDEN, action=error.action, scope=error.scope)
    field = error.field if isinstance(error, ValidationFailed) else None
    return coded_error(error.message, BAD_INPUT, field=field)


def is_unexpected(error: GraphQLError) -> bool:
    """Mask everything but our coded errors and GraphQL's own syntax and validation errors."""
    original = error.original_error
    if original is None:
        return False
    if isinstance(original, GraphQLError):
        return (original.extensions or {}).get("code") not in _SHOWN_CODES
    return not isinstance(original, DomainError)
