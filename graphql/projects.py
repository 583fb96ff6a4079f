"""Deal squads in GraphQL: projects, their lifecycle, slots and members."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import ValidationFailed
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.graphql.okrs import Objective
from cellorg.graphql.org import Person, Unit
from cellorg.permissions.catalogue import (
    OKRS_READ,
    PROJECT_MANAGE,
    PROJECT_READ,
    PROJECTS_CREATE,
    SQUAD_READ,
    SQUAD_WRITE,
    project_scope,
)
from cellorg.projects import models, service
from cellorg.projects import repository as repo

MAX_PROJECTS = 200
# The scope checked for an unknown slot or member: nobody holds a grant in it, so the caller learns
# "permission denied", not whether the id exists.
NO_PROJECT = project_scope(0)


@strawberry.enum
class ProjectStatus(Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"
    ARCHIVED = "archived"


@strawberry.enum
class Outcome(Enum):
    WON = "won"
    LOST = "lost"
    CANCELLED = "cancelled"


@strawberry.type
class SquadSlot:
    id: int
    project_id: int
    title: str
    role: str
    headcount: int
    allocation_pct: int

    @classmethod
    def of(cls, row: models.SquadSlot) -> "SquadSlot":
        return cls(
            id=row.id,
            project_id=row.project_id,
            title=row.title,
            role=row.role,
            headcount=row.headcount,
            allocation_pct=row.allocation_pct,
        )


@strawberry.type
class SquadMember:
    id: int
    project_id: int
    slot_id: int
    person_id: int
    role: str
    allocation_pct: int
    joined_at: datetime
    left_at: datetime | None

    @classmethod
    def of(cls, row: models.SquadMember) -> "SquadMember":
        return cls(
            id=row.id,
            project_id=row.project_id,
            slot_id=row.slot_id,
            person_id=row.person_id,
            role=row.role,
            allocation_pct=row.allocation_pct,
            joined_at=row.joined_at,
            left_at=row.left_at,
        )

    @strawberry.field
    async def person(self, info: Info) -> Person:
        return Person.of(await info.context.loaders.person.load(self.person_id))


@strawberry.type
class Project:
    id: int
    name: str
    description: str
    status: ProjectStatus
    outcome: Outcome | None
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    owner_id: int
    customer_unit_id: strawberry.Private[int | None]
    product_line_unit_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Project) -> "Project":
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            status=ProjectStatus(row.status),
            outcome=Outcome(row.outcome) if row.outcome else None,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            closed_at=row.closed_at,
            owner_id=row.owner_id,
            customer_unit_id=row.customer_unit_id,
            product_line_unit_id=row.product_line_unit_id,
        )

    @strawberry.field
    async def owner(self, info: Info) -> Person:
        return Person.of(await info.context.loaders.person.load(self.owner_id))

    @strawberry.field
    async def customer(self, info: Info) -> Unit | None:
        return await _unit(info, self.customer_unit_id)

    @strawberry.field
    async def product_line(self, info: Info) -> Unit | None:
        return await _unit(info, self.product_line_unit_id)

    @strawberry.field
    async def slots(self, info: Info) -> list[SquadSlot]:
        info.context.check(SQUAD_READ, project_scope(self.id))
        return [SquadSlot.of(slot) for slot in await info.context.loaders.slots.load(self.id)]

    @strawberry.field(description="Current members; with includeFormer, everyone who was in the squad.")
    async def members(self, info: Info, include_former: bool = False) -> list[SquadMember]:
        info.context.check(SQUAD_READ, project_scope(self.id))
        loader = info.context.loaders.all_members if include_former else info.context.loaders.members
        return [SquadMember.of(member) for member in await loader.load(self.id)]

    @strawberry.field
    async def objectives(self, info: Info) -> list[Objective]:
        info.context.check(OKRS_READ, project_scope(self.id))
        return [Objective.of(row) for row in await info.context.loaders.objectives.load(self.id)]


async def _unit(info: Info, unit_id: int | None) -> Unit | None:
    if unit_id is None:
        return None
    unit = await info.context.loaders.unit.load(unit_id)
    return None if unit is None else Unit.of(unit)


ProjectResult = Annotated[Project | ValidationError | NotFound | PermissionDenied, strawberry.union("ProjectResult")]
SlotResult = Annotated[SquadSlot | ValidationError | NotFound | PermissionDenied, strawberry.union("SlotResult")]
MemberResult = Annotated[
    SquadMember | ValidationError | NotFound | PermissionDenied, strawberry.union("SquadMemberResult")
]


@strawberry.input
class CreateProjectInput:
    name: str
    ends_at: datetime
    description: str = ""
    starts_at: datetime | None = None
    customer_unit_id: int | None = None
    product_line_unit_id: int | None = None


@strawberry.input
class AddSlotInput:
    project_id: int
    title: str
    role: str
    headcount: int = 1
    allocation_pct: int = 100


@strawberry.type
class ProjectsQuery:
    @query_field(description="One project, for those with a grant in it (and auditors).")
    async def project(self, info: Info, id: int) -> Project:  # noqa: A002
        info.context.require(PROJECT_READ, project_scope(id))
        return Project.of(await get_or_fail(info.context.db, models.Project, id))

    @query_field(description="Projects the caller may read, by status, customer, product line, member, end date.")
    async def projects(
        self,
        info: Info,
        status: list[ProjectStatus] | None = None,
        customer_unit_id: int | None = None,
        product_line_unit_id: int | None = None,
        member_person_id: int | None = None,
        ends_before: datetime | None = None,
        ends_after: datetime | None = None,
        first: int = 50,
    ) -> list[Project]:
        if not 1 <= first <= MAX_PROJECTS:
            raise ValidationFailed(f"first must be between 1 and {MAX_PROJECTS}", field="first")
        project_filter = repo.ProjectFilter(
            statuses=tuple(models.ProjectStatus(s.value) for s in status or ()),
            customer_unit_id=customer_unit_id,
            product_line_unit_id=product_line_unit_id,
            member_person_id=member_person_id,
            ends_before=ends_before,
            ends_after=ends_after,
        )
        reads_all = info.context.authz.allows(PROJECT_READ)  # an org-wide role that reads every project
        rows = await repo.projects_visible_to(
            info.context.db,
            project_filter,
            subject=None if reads_all else info.context.viewer.subject,
            at=utcnow(),
            limit=first,
        )
        return [Project.of(row) for row in rows]


@strawberry.type
class ProjectsMutation:
    @mutation_field(description="A draft project led by the caller until its end.")
    async def create_project(self, info: Info, input: CreateProjectInput) -> ProjectResult:  # noqa: A002
        info.context.require(PROJECTS_CREATE)
        project = await service.create_project(
            info.context.db,
            info.context.services.policy,
            name=input.name,
            description=input.description,
            owner_id=info.context.viewer.person_id,
            starts_at=input.starts_at or utcnow(),
            ends_at=input.ends_at,
            customer_unit_id=input.customer_unit_id,
            product_line_unit_id=input.product_line_unit_id,
        )
        return Project.of(project)

    @mutation_field()
    async def activate_project(self, info: Info, id: int) -> ProjectResult:  # noqa: A002
        info.context.require(PROJECT_MANAGE, project_scope(id))
        return Project.of(await service.activate_project(info.context.db, id))

    @mutation_field(description="Move the end later; the squad's grants follow.")
    async def extend_project(self, info: Info, id: int, ends_at: datetime) -> ProjectResult:  # noqa: A002
        info.context.require(PROJECT_MANAGE, project_scope(id))
        return Project.of(await service.extend_project(info.context.db, info.context.services.policy, id, ends_at))

    @mutation_field(description="Close now: every grant in the project ends at this second.")
    async def close_project(self, info: Info, id: int, outcome: Outcome) -> ProjectResult:  # noqa: A002
        info.context.require(PROJECT_MANAGE, project_scope(id))
        project = await service.close_project(
            info.context.db,
            info.context.services.policy,
            id,
            outcome=models.Outcome(outcome.value),
            closed_by=info.context.viewer.subject,
        )
        return Project.of(project)

    @mutation_field()
    async def archive_project(self, info: Info, id: int) -> ProjectResult:  # noqa: A002
        info.context.require(PROJECT_MANAGE, project_scope(id))
        return Project.of(await service.archive_project(info.context.db, id))

    @mutation_field()
    async def add_squad_slot(self, info: Info, input: AddSlotInput) -> SlotResult:  # noqa: A002
        info.context.require(SQUAD_WRITE, project_scope(input.project_id))
        slot = await service.add_slot(
            info.context.db,
            input.project_id,
            title=input.title,
            role=input.role,
            headcount=input.headcount,
            allocation_pct=input.allocation_pct,
        )
        return SquadSlot.of(slot)

    @mutation_field(description="Staff a slot: the person gets its project role until the project ends.")
    async def add_squad_member(self, info: Info, slot_id: int, person_id: int) -> MemberResult:
        slot = await info.context.db.get(models.SquadSlot, slot_id)
        info.context.require(SQUAD_WRITE, project_scope(slot.project_id) if slot else NO_PROJECT)
        member = await service.add_member(
            info.context.db,
            info.context.services.policy,
            slot_id=slot_id,
            person_id=person_id,
            added_by=info.context.viewer.subject,
        )
        return SquadMember.of(member)

    @mutation_field(description="Take a member out of the squad; their grant ends now.")
    async def remove_squad_member(self, info: Info, member_id: int, reason: str) -> MemberResult:
        await _require_squad_write(info, member_id)
        member = await service.remove_member(
            info.context.db,
            info.context.services.policy,
            member_id,
            removed_by=info.context.viewer.subject,
            reason=reason,
        )
        return SquadMember.of(member)

    @mutation_field(description="End the member's grant and start one with the new project role.")
    async def change_squad_role(self, info: Info, member_id: int, role: str) -> MemberResult:
        await _require_squad_write(info, member_id)
        member = await service.change_role(
            info.context.db,
            info.context.services.policy,
            member_id,
            role=role,
            changed_by=info.context.viewer.subject,
        )
        return SquadMember.of(member)


def _staffing_rules(info: Info) -> service.StaffingRules:
    return service.StaffingRules(max_allocation_pct=info.context.services.runtime.settings.max_allocation_pct)


async def _require_squad_write(info: Info, member_id: int) -> None:
    member = await info.context.db.get(models.SquadMember, member_id)
    info.context.require(SQUAD_WRITE, project_scope(member.project_id) if member else NO_PROJECT)
