"""Bonus rounds in GraphQL: finance sets policies and pools, computes and approves statements; members see
their own line with the ledger entries behind it; finance and auditors read and export every statement."""

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError
from cellorg.core.jobs import enqueue
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.graphql.org import Person
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus import models
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.export import statement_csv, statement_json
from cellorg.org import models as org_models
from cellorg.permissions.catalogue import BONUS_MANAGE, BONUS_READ, ORG_READ, Permission, project_scope
from cellorg.projects.models import SquadMember


@strawberry.enum
class ExportFormat(Enum):
    CSV = "csv"
    JSON = "json"


@strawberry.type
class BonusPolicy:
    id: int
    name: str
    version: int
    rules: JSON

    @classmethod
    def of(cls, row: models.BonusPolicy) -> "BonusPolicy":
        return cls(id=row.id, name=row.name, version=row.version, rules=cast(JSON, row.rules))


@strawberry.type
class BonusRound:
    id: int
    project_id: int
    name: str
    amount: str
    currency: str
    policy_id: int
    created_at: datetime

    @classmethod
    def of(cls, row: models.BonusRound) -> "BonusRound":
        return cls(
            id=row.id,
            project_id=row.project_id,
            name=row.name,
            amount=str(bonus.money(row.amount_minor, row.currency)),
            currency=row.currency,
            policy_id=row.policy_id,
            created_at=row.created_at,
        )


@strawberry.type(description="One member's share and the ledger entries it is computed from.")
class BonusLine:
    person_id: int
    role: str | None
    points: int
    weight: str = strawberry.field(description="Exact, as a fraction of the blended weights.")
    amount: str
    entries: list[int]

    @classmethod
    def of(cls, line: dict[str, Any]) -> "BonusLine":
        return cls(
            person_id=line["personId"],
            role=line["role"],
            points=line["points"],
            weight=line["weight"],
            amount=line["amount"],
            entries=line["entries"],
        )

    @strawberry.field
    async def person(self, info: Info) -> Person:
        return Person.of(await info.context.loaders.person.load(self.person_id))


@strawberry.type
class BonusApproval:
    approved_by: int
    approved_at: datetime
    ledger_seq: int


@strawberry.type
class BonusStatement:
    id: int
    round_id: int
    project_id: int
    tree_size: int
    statement_hash: str
    currency: str
    computed_at: datetime
    approval: BonusApproval | None
    content: strawberry.Private[dict[str, Any]]

    @classmethod
    def of(cls, row: models.BonusStatement, approval: models.BonusApproval | None) -> "BonusStatement":
        return cls(
            id=row.id,
            round_id=row.round_id,
            project_id=row.content["projectId"],
            tree_size=row.tree_size,
            statement_hash="0x" + row.statement_hash.hex(),
            currency=row.content["round"]["currency"],
            computed_at=row.computed_at,
            approval=None
            if approval is None
            else BonusApproval(
                approved_by=approval.approved_by, approved_at=approval.approved_at, ledger_seq=approval.ledger_seq
            ),
            content=row.content,
        )

    @strawberry.field
    def lines(self) -> list[BonusLine]:
        return [BonusLine.of(line) for line in self.content["lines"]]


@strawberry.type(description="The statement is being computed by a job; it appears in the round's statements.")
class BonusComputationQueued:
    round_id: int
    tree_size: int


PolicyResult = Annotated[BonusPolicy | ValidationError | PermissionDenied, strawberry.union("BonusPolicyResult")]
RoundResult = Annotated[
    BonusRound | ValidationError | NotFound | PermissionDenied, strawberry.union("BonusRoundResult")
]
StatementResult = Annotated[
    BonusStatement | ValidationError | NotFound | PermissionDenied, strawberry.union("BonusStatementResult")
]
ComputationResult = Annotated[
    BonusComputationQueued | ValidationError | NotFound | PermissionDenied, strawberry.union("BonusComputationResult")
]
PeerPointsResult = Annotated[
    BonusRound | ValidationError | NotFound | PermissionDenied, strawberry.union("PeerPointsResult")
]


@strawberry.input
class BonusRoundInput:
    project_id: int
    name: str = strawberry.field(description="final (after the project closes) or the name of an interim round")
    amount: str = strawberry.field(description="The pool, a decimal in the currency's unit: 120000.00")
    currency: str
    policy_id: int


@strawberry.input
class PeerPointsInput:
    person_id: int
    points: int


@strawberry.type
class BonusQuery:
    @query_field(description="A project's rounds with their statements.")
    async def bonus_rounds(self, info: Info, project_id: int) -> list[BonusRound]:
        info.context.require(BONUS_READ, project_scope(project_id))
        query = select(models.BonusRound).where(models.BonusRound.project_id == project_id)
        return [BonusRound.of(row) for row in await info.context.db.scalars(query.order_by(models.BonusRound.id))]

    @query_field(description="The statements of a round, newest first, with their approval.")
    async def bonus_statements(self, info: Info, round_id: int) -> list[BonusStatement]:
        bonus_round = await _round(info, round_id, BONUS_READ)
        query = (
            select(models.BonusStatement, models.BonusApproval)
            .outerjoin(models.BonusApproval)
            .where(models.BonusStatement.round_id == bonus_round.id)
            .order_by(models.BonusStatement.id.desc())
        )
        return [BonusStatement.of(row, approval) for row, approval in (await info.context.db.execute(query)).all()]

    @query_field(description="A statement as CSV (a row per member) or JSON, for finance's books.")
    async def bonus_statement_export(self, info: Info, statement_id: int, format: ExportFormat) -> str:  # noqa: A002
        statement = await _statement(info, statement_id)
        ids = [line["personId"] for line in statement.content["lines"]]
        query = select(org_models.Person.id, org_models.Person.name).where(org_models.Person.id.in_(ids))
        names = dict((await info.context.db.execute(query)).all())
        return statement_csv(statement, names) if format is ExportFormat.CSV else statement_json(statement, names)

    @query_field(description="The caller's own lines in approved statements, with the entries behind each.")
    async def my_bonus_lines(self, info: Info) -> list[BonusLine]:
        person_id = info.context.viewer.person_id
        squads = select(SquadMember.project_id).where(SquadMember.person_id == person_id)
        query = (
            select(models.BonusStatement)
            .join(models.BonusApproval)
            .join(models.BonusRound)
            .where(models.BonusRound.project_id.in_(squads))
            .order_by(models.BonusStatement.id)
        )
        statements = (await info.context.db.scalars(query)).all()
        return [BonusLine.of(line) for statement in statements for line in bonus.lines_of(statement, person_id)]


@strawberry.type
class BonusMutation:
    @mutation_field(description="A new version of a named policy.")
    async def create_bonus_policy(self, info: Info, name: str, rules: JSON) -> PolicyResult:
        info.context.require(BONUS_MANAGE)
        policy = await bonus.create_policy(
            info.context.db, name=name, rules=cast(dict[str, Any], rules), created_by=info.context.viewer.person_id
        )
        return BonusPolicy.of(policy)

    @mutation_field(description="Set a project's pool: the final round after it closes, or a named interim one.")
    async def create_bonus_round(self, info: Info, input: BonusRoundInput) -> RoundResult:  # noqa: A002
        info.context.require(BONUS_MANAGE, project_scope(input.project_id))
        bonus_round = await bonus.create_round(
            info.context.db,
            project_id=input.project_id,
            name=input.name,
            amount=input.amount,
            currency=input.currency,
            policy_id=input.policy_id,
            created_by=info.context.viewer.person_id,
        )
        return BonusRound.of(bonus_round)

    @mutation_field(description="The caller hands out 100 points among the other squad members.")
    async def give_peer_points(self, info: Info, round_id: int, points: list[PeerPointsInput]) -> PeerPointsResult:
        info.context.require(ORG_READ)
        given: dict[int, int] = {}
        for item in points:
            given[item.person_id] = given.get(item.person_id, 0) + item.points
        await bonus.give_peer_points(info.context.db, round_id, info.context.viewer.person_id, given)
        return BonusRound.of(await get_or_fail(info.context.db, models.BonusRound, round_id, "BonusRound"))

    @mutation_field(description="Compute the round's statement at a checkpoint (the latest by default) in a job.")
    async def compute_bonus_statement(
        self, info: Info, round_id: int, tree_size: int | None = None
    ) -> ComputationResult:
        bonus_round = await _round(info, round_id, BONUS_MANAGE)
        checkpoint = await bonus.checkpoint_at(info.context.db, tree_size)
        await enqueue(
            info.context.db,
            bonus.compute_statement_job,
            round_id=bonus_round.id,
            tree_size=checkpoint.tree_size,
            computed_by=info.context.viewer.person_id,
        )
        return BonusComputationQueued(round_id=bonus_round.id, tree_size=checkpoint.tree_size)

    @mutation_field(description="Approve a statement (not yours, not one you are paid from); it goes on the ledger.")
    async def approve_bonus_statement(self, info: Info, statement_id: int) -> StatementResult:
        statement = await _statement(info, statement_id, BONUS_MANAGE)
        keys = ledger.LedgerKeys.from_settings(info.context.services.runtime.settings)
        approval = await bonus.approve_statement(info.context.db, keys, statement.id, info.context.viewer.person_id)
        return BonusStatement.of(statement, approval)


async def _round(info: Info, round_id: int, permission: Permission) -> models.BonusRound:
    bonus_round: models.BonusRound | None = await info.context.db.get(models.BonusRound, round_id)
    info.context.require(permission, project_scope(bonus_round.project_id if bonus_round else 0))
    if bonus_round is None:  # only a caller with the permission everywhere learns that it is missing
        raise NotFoundError("BonusRound", round_id)
    return bonus_round


async def _statement(info: Info, statement_id: int, permission: Permission = BONUS_READ) -> models.BonusStatement:
    statement: models.BonusStatement | None = await info.context.db.get(models.BonusStatement, statement_id)
    info.context.require(permission, project_scope(statement.content["projectId"] if statement else 0))
    if statement is None:  # only a caller with the permission everywhere learns that it is missing
        raise NotFoundError("BonusStatement", statement_id)
    return statement
