"""One schema merged from each area's query and mutation types."""

import logging
from collections.abc import AsyncIterator
from functools import partial

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from cellorg.core.db import commit, rollback
from cellorg.graphql.bonus import BonusMutation, BonusQuery
from cellorg.graphql.errors import is_unexpected
from cellorg.graphql.ledger import LedgerMutation, LedgerQuery
from cellorg.graphql.okrs import OkrsMutation, OkrsQuery
from cellorg.graphql.org import OrgMutation, OrgQuery
from cellorg.graphql.permissions import PermissionsMutation, PermissionsQuery
from cellorg.graphql.projects import ProjectsMutation, ProjectsQuery
from cellorg.graphql.talent import ProposalMutation, TalentMutation, TalentQuery
from graphql import GraphQLError

log = logging.getLogger(__name__)


@strawberry.type
class HealthQuery:
    @strawberry.field(description="Liveness, answered without authentication.")
    def health(self) -> str:
        return "ok"


Query = merge_types(
    "Query", (HealthQuery, OrgQuery, PermissionsQuery, ProjectsQuery, OkrsQuery, TalentQuery, LedgerQuery, BonusQuery)
)
Mutation = merge_types(
    "Mutation",
    (
        OrgMutation,
        PermissionsMutation,
        ProjectsMutation,
        OkrsMutation,
        TalentMutation,
        ProposalMutation,
        LedgerMutation,
        BonusMutation,
    ),
)


class RequestTransaction(SchemaExtension):
    """The request edge: commit once if the operation succeeded, roll back on any error."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        context.read_only = self.execution_context.operation_type is OperationType.QUERY
        yield
        result = self.execution_context.result
        if context.session is None:
            return
        if result is None or result.errors:
            await rollback(context.db)
            return
        try:
            await commit(context.db)
        except Exception as error:
            log.exception("commit failed")
            await rollback(context.db)
            result.data = None
            result.errors = [GraphQLError("Unexpected error.", original_error=error)]

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self.execution_context.context.session is not None:
                await self.execution_context.context.session.close()


class Schema(strawberry.Schema):
    """Strawberry logs every error with its traceback; ours logs only the unexpected (see MaskErrors)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return


def _log_unexpected(error: GraphQLError) -> bool:
    unexpected = is_unexpected(error)
    if unexpected:
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
    return unexpected


# Built once: the limiters make a new rule class per instance, and ValidationCache keys on the rules.
QUERY_LIMITS = [
    *QueryDepthLimiter(max_depth=12).validation_rules,
    *MaxAliasesLimiter(max_alias_count=30).validation_rules,
]


def build_schema() -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            RequestTransaction,
            # Parse and validation dominate a small request; both caches live across requests.
            partial(ParserCache, maxsize=512),
            partial(ValidationCache, maxsize=512),
            partial(AddValidationRules, QUERY_LIMITS),
            partial(MaskErrors, should_mask_error=_log_unexpected),
        ],
    )
