"""OKRs and project archives in GraphQL."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, cast

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError, PermissionDeniedError
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.permissions.catalogue import OKRS_READ, OKRS_WRITE, PROJECT_READ, project_scope
from cellorg.projects import archive, okrs
from cellorg.projects.models import KeyResult as KeyResultRow
from cellorg.projects.models import Objective as ObjectiveRow
from cellorg.projects.models import Project, SquadMember


@strawberry.type
class KeyResult:
    id: int
    title: str
    target: Decimal
    current: Decimal
    unit: str
    due_at: datetime | None
    progress: Decimal = strawberry.field(description="current / target, capped at 1")

    @classmethod
    def of(cls, row: KeyResultRow) -> "KeyResult":
        return cls(
            id=row.id,
            title=row.title,
            target=row.target,
            current=row.current,
            unit=row.unit,
            due_at=row.due_at,
            progress=row.progress,
        )


@strawberry.type
class Objective:
    id: int
    project_id: int
    title: str
    description: str

    @classmethod
    def of(cls, row: ObjectiveRow) -> "Objective":
        return cls(id=row.id, project_id=row.project_id, title=row.title, description=row.description)

    @strawberry.field
    async def key_results(self, info: Info) -> list[KeyResult]:
        return [KeyResult.of(row) for row in await info.context.loaders.key_results.load(self.id)]

    @strawberry.field(description="Objectives of other projects linked to this one, from either side.")
    async def aligned_with(self, info: Info) -> list["Objective"]:
        linked = await info.context.loaders.aligned_objectives.load(self.id)
        authz = info.context.authz
        return [Objective.of(row) for row in linked if authz.allows(OKRS_READ, project_scope(row.project_id))]


@strawberry.type(description="What a closed project left behind; never changed after its close.")
class ProjectArchive:
    project_id: int
    created_at: datetime
    content_sha256: str
    content: JSON


ObjectiveResult = Annotated[
    Objective | ValidationError | NotFound | PermissionDenied, strawberry.union("ObjectiveResult")
]
KeyResultResult = Annotated[
    KeyResult | ValidationError | NotFound | PermissionDenied, strawberry.union("KeyResultResult")
]


async def _scope_of_objective(info: Info, objective_id: int) -> str:
    row = await info.context.db.get(ObjectiveRow, objective_id)
    return project_scope(row.project_id if row else 0)


@strawberry.type
class OkrsQuery:
    @query_field(description="A closed project's archive, for its former members, its owner and auditors.")
    async def project_archive(self, info: Info, project_id: int) -> ProjectArchive:
        session = info.context.db
        viewer = info.context.viewer
        project = await session.get(Project, project_id)
        was_in_it = project is not None and (
            project.owner_id == viewer.person_id
            or await session.scalar(
                select(SquadMember.id)
                .where(SquadMember.project_id == project_id, SquadMember.person_id == viewer.person_id)
                .limit(1)
            )
            is not None
        )
        if not (was_in_it or info.context.authz.allows(PROJECT_READ)):
            raise PermissionDeniedError(str(PROJECT_READ), project_scope(project_id))
        row = await archive.archive_of(session, project_id)
        if row is None:
            raise NotFoundError("ProjectArchive", project_id)
        return ProjectArchive(
            project_id=row.project_id,
            created_at=row.created_at,
            content_sha256=row.content_sha256,
            content=cast(JSON, row.content),
        )


@strawberry.type
class OkrsMutation:
    @mutation_field()
    async def add_objective(self, info: Info, project_id: int, title: str, description: str = "") -> ObjectiveResult:
        info.context.require(OKRS_WRITE, project_scope(project_id))
        return Objective.of(await okrs.add_objective(info.context.db, project_id, title=title, description=description))

    @mutation_field()
    async def add_key_result(
        self, info: Info, objective_id: int, title: str, target: Decimal, unit: str, due_at: datetime | None = None
    ) -> KeyResultResult:
        info.context.require(OKRS_WRITE, await _scope_of_objective(info, objective_id))
        row = await okrs.add_key_result(
            info.context.db, objective_id, title=title, target=str(target), unit=unit, due_at=due_at
        )
        return KeyResult.of(row)

    @mutation_field(description="Record where a key result stands now.")
    async def record_key_result(self, info: Info, key_result_id: int, current: Decimal) -> KeyResultResult:
        row = await info.context.db.get(KeyResultRow, key_result_id)
        info.context.require(OKRS_WRITE, await _scope_of_objective(info, row.objective_id if row else 0))
        return KeyResult.of(await okrs.record_progress(info.context.db, key_result_id, str(current)))

    @mutation_field(description="Link an objective with one of another project (readable from both sides).")
    async def align_objectives(self, info: Info, objective_id: int, aligned_objective_id: int) -> ObjectiveResult:
        info.context.require(OKRS_WRITE, await _scope_of_objective(info, objective_id))
        info.context.require(OKRS_READ, await _scope_of_objective(info, aligned_objective_id))
        await okrs.align(info.context.db, objective_id, aligned_objective_id)
        return Objective.of(await get_or_fail(info.context.db, ObjectiveRow, objective_id))
