"""Project lifecycle and squad staffing. Every grant a squad member holds ends with the project."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.org.models import Dimension, Person, Unit
from cellorg.permissions.catalogue import LEAD_ROLE, ScopeKind, project_scope, role_named, subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.models import Grant
from cellorg.permissions.repository import grants_of
from cellorg.permissions.service import end_grants, grant_role, move_grant_ends
from cellorg.projects.archive import write_archive
from cellorg.projects.models import Outcome, Project, ProjectStatus, SquadMember, SquadSlot
from cellorg.projects.repository import allocated_pct, current_members

MAX_NAME = 200
TRANSITIONS: dict[ProjectStatus, set[ProjectStatus]] = {
    ProjectStatus.DRAFT: {ProjectStatus.ACTIVE, ProjectStatus.CLOSED},
    ProjectStatus.ACTIVE: {ProjectStatus.CLOSED},
    ProjectStatus.CLOSED: {ProjectStatus.ARCHIVED},
    ProjectStatus.ARCHIVED: set(),
}


@dataclass(frozen=True)
class StaffingRules:
    """How much of a person all open squads together may hold."""

    max_allocation_pct: int = 100


async def _unit_of_dimension(session: AsyncSession, unit_id: int | None, dimension_key: str, field: str) -> None:
    if unit_id is None:
        return
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError("Unit", unit_id)
    dimension = await session.get(Dimension, unit.dimension_id)
    if dimension is None or dimension.key != dimension_key:
        raise ValidationFailed(f"unit {unit_id} is not a {dimension_key.replace('_', ' ')} unit", field=field)


def _transition(project: Project, target: ProjectStatus) -> None:
    if target not in TRANSITIONS[project.status]:
        raise ValidationFailed(f"cannot move a project from {project.status} to {target}", field="status")
    project.status = target


async def create_project(
    session: AsyncSession,
    policy: PolicyEnforcer,
    *,
    name: str,
    description: str,
    owner_id: int,
    starts_at: datetime,
    ends_at: datetime,
    customer_unit_id: int | None,
    product_line_unit_id: int | None,
) -> Project:
    """A draft project; its owner leads it until its end."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_NAME} characters", field="name")
    if ends_at <= starts_at:
        raise ValidationFailed("a project must end after it starts", field="endsAt")
    if ends_at <= utcnow():
        raise ValidationFailed("a project must end in the future", field="endsAt")
    await _unit_of_dimension(session, customer_unit_id, "customer", "customerUnitId")
    await _unit_of_dimension(session, product_line_unit_id, "product_line", "productLineUnitId")
    owner = await session.get(Person, owner_id)
    if owner is None or not owner.active:
        raise NotFoundError("Person", owner_id)
    project = Project(
        name=name,
        description=description.strip(),
        owner_id=owner_id,
        starts_at=starts_at,
        ends_at=ends_at,
        customer_unit_id=customer_unit_id,
        product_line_unit_id=product_line_unit_id,
        status=ProjectStatus.DRAFT,
        outcome=None,
        closed_at=None,
        created_at=utcnow(),
    )
    session.add(project)
    await session.flush()
    await grant_role(
        session,
        policy,
        subject=subject_of_person(owner_id),
        role=LEAD_ROLE,
        scope=project_scope(project.id),
        granted_by=subject_of_person(owner_id),
        reason=f"owner of project {project.id}",
        valid_until=ends_at,
    )
    return project


async def activate_project(session: AsyncSession, project_id: int) -> Project:
    project = await get_or_fail(session, Project, project_id)
    if project.ends_at <= utcnow():
        raise ValidationFailed("the project has already ended: extend it first", field="endsAt")
    _transition(project, ProjectStatus.ACTIVE)
    project.activated_at = utcnow()
    await session.flush()
    return project


async def extend_project(session: AsyncSession, policy: PolicyEnforcer, project_id: int, ends_at: datetime) -> Project:
    """Move the end later; every live grant in the project now ends then too."""
    project = await get_or_fail(session, Project, project_id)
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: it cannot be extended", field="status")
    if ends_at <= project.ends_at:
        raise ValidationFailed("the new end must be later than the current one", field="endsAt")
    live = await grants_of(session, scope=project_scope(project.id), live_at=utcnow())
    await move_grant_ends(session, policy, [g for g in live if g.valid_until == project.ends_at], ends_at)
    project.ends_at = ends_at
    await session.flush()
    return project


async def close_project(
    session: AsyncSession, policy: PolicyEnforcer, project_id: int, *, outcome: Outcome, closed_by: str | None
) -> Project:
    """Close now: every grant in the project ends at this second and the squad dissolves."""
    project = await get_or_fail(session, Project, project_id)
    if project.status is ProjectStatus.DRAFT and outcome is not Outcome.CANCELLED:
        raise ValidationFailed("a draft project can only be cancelled", field="outcome")
    _transition(project, ProjectStatus.CLOSED)
    now = utcnow()
    project.outcome = outcome
    project.closed_at = now
    for member in await current_members(session, project.id):
        member.left_at = now
    live = await grants_of(session, scope=project_scope(project.id), live_at=now)
    await end_grants(session, policy, list(live), at=now, ended_by=closed_by, reason=f"project closed: {outcome}")
    await write_archive(session, project)
    return project


async def archive_project(session: AsyncSession, project_id: int) -> Project:
    project = await get_or_fail(session, Project, project_id)
    _transition(project, ProjectStatus.ARCHIVED)
    await session.flush()
    return project


async def add_slot(
    session: AsyncSession, project_id: int, *, title: str, role: str, headcount: int, allocation_pct: int
) -> SquadSlot:
    project = await get_or_fail(session, Project, project_id)
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: it takes no new slots", field="projectId")
    if role_named(role, ScopeKind.PROJECT) is None:
        raise ValidationFailed(f"project role {role!r} does not exist", field="role")
    if headcount < 1:
        raise ValidationFailed("a slot holds at least one person", field="headcount")
    if not 1 <= allocation_pct <= 100:
        raise ValidationFailed("allocation is 1 to 100 percent", field="allocationPct")
    title = title.strip()
    if not title or len(title) > MAX_NAME:
        raise ValidationFailed(f"title must be 1 to {MAX_NAME} characters", field="title")
    slot = SquadSlot(project_id=project.id, title=title, role=role, headcount=headcount, allocation_pct=allocation_pct)
    session.add(slot)
    await session.flush()
    return slot


async def add_member(
    session: AsyncSession,
    policy: PolicyEnforcer,
    *,
    slot_id: int,
    person_id: int,
    added_by: str | None,
    rules: StaffingRules = StaffingRules(),
) -> SquadMember:
    """Staff a slot: the person gets the slot's project role until the project's end."""
    slot = await session.get(SquadSlot, slot_id)
    if slot is None:
        raise NotFoundError("SquadSlot", slot_id)
    project = await get_or_fail(session, Project, slot.project_id)
    return await _join(session, policy, project, slot, person_id, slot.role, added_by, rules)


async def _join(
    session: AsyncSession,
    policy: PolicyEnforcer,
    project: Project,
    slot: SquadSlot,
    person_id: int,
    role: str,
    added_by: str | None,
    rules: StaffingRules,
) -> SquadMember:
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: it takes no new members", field="projectId")
    person = await session.get(Person, person_id)
    if person is None or not person.active:
        raise NotFoundError("Person", person_id)
    members = await current_members(session, project.id)
    if any(m.person_id == person_id for m in members):
        raise ValidationFailed(f"person {person_id} is already in this squad", field="personId")
    if sum(1 for m in members if m.slot_id == slot.id) >= slot.headcount:
        raise ValidationFailed(f"slot {slot.title!r} is full ({slot.headcount})", field="slotId")
    allocated = await allocated_pct(session, person_id)
    if allocated + slot.allocation_pct > rules.max_allocation_pct:
        raise ValidationFailed(
            f"{person.name} is {allocated}% allocated: {slot.allocation_pct}% more exceeds {rules.max_allocation_pct}%",
            field="personId",
        )
    now = utcnow()
    grant = await grant_role(
        session,
        policy,
        subject=subject_of_person(person_id),
        role=role,
        scope=project_scope(project.id),
        granted_by=added_by,
        reason=f"squad slot {slot.title}",
        valid_until=project.ends_at,
    )
    member = SquadMember(
        project_id=project.id,
        slot_id=slot.id,
        person_id=person_id,
        role=role,
        allocation_pct=slot.allocation_pct,
        grant_id=grant.id,
        joined_at=now,
        left_at=None,
    )
    session.add(member)
    await session.flush()
    return member


async def remove_member(
    session: AsyncSession, policy: PolicyEnforcer, member_id: int, *, removed_by: str | None, reason: str
) -> SquadMember:
    member = await _current_member(session, member_id)
    now = utcnow()
    member.left_at = now
    grant = await session.get(Grant, member.grant_id)
    if grant is not None and grant.is_live(now):
        await end_grants(session, policy, [grant], at=now, ended_by=removed_by, reason=reason)
    await session.flush()
    return member


async def change_role(
    session: AsyncSession,
    policy: PolicyEnforcer,
    member_id: int,
    *,
    role: str,
    changed_by: str | None,
    rules: StaffingRules = StaffingRules(),
) -> SquadMember:
    """End the member's grant and start one with the new role; the tenure under each role stays."""
    if role_named(role, ScopeKind.PROJECT) is None:
        raise ValidationFailed(f"project role {role!r} does not exist", field="role")
    member = await _current_member(session, member_id)
    if member.role == role:
        raise ValidationFailed(f"the member already has role {role}", field="role")
    slot = await session.get(SquadSlot, member.slot_id)
    project = await get_or_fail(session, Project, member.project_id)
    assert slot is not None
    await remove_member(session, policy, member_id, removed_by=changed_by, reason=f"role changed to {role}")
    return await _join(session, policy, project, slot, member.person_id, role, changed_by, rules)


async def _current_member(session: AsyncSession, member_id: int) -> SquadMember:
    member = await session.get(SquadMember, member_id)
    if member is None:
        raise NotFoundError("SquadMember", member_id)
    if member.left_at is not None:
        raise ValidationFailed(f"squad member {member_id} has already left", field="memberId")
    project = await get_or_fail(session, Project, member.project_id)
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: its squad cannot change", field="memberId")
    return member


async def expire_overdue_projects(session: AsyncSession, at: datetime) -> list[Project]:
    """Close active projects whose end has passed, as of their end: no outcome was recorded."""
    overdue = (
        await session.scalars(select(Project).where(Project.status == ProjectStatus.ACTIVE, Project.ends_at <= at))
    ).all()
    for project in overdue:
        project.status = ProjectStatus.CLOSED
        project.closed_at = project.ends_at
        for member in await current_members(session, project.id):
            member.left_at = project.ends_at
        await write_archive(session, project)
    return list(overdue)
