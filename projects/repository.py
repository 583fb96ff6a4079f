"""Queries of projects and squads."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, String, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.permissions.catalogue import ScopeKind
from cellorg.permissions.models import Grant
from cellorg.projects.models import Project, ProjectStatus, SquadMember, SquadSlot


@dataclass(frozen=True, slots=True)
class ProjectFilter:
    statuses: tuple[ProjectStatus, ...] = ()
    customer_unit_id: int | None = None
    product_line_unit_id: int | None = None
    member_person_id: int | None = None
    ends_before: datetime | None = None
    ends_after: datetime | None = None


async def allocated_pct(session: AsyncSession, person_id: int, *, excluding_project: int | None = None) -> int:
    """How much of a person the open squads they are in hold now."""
    query = (
        select(func.coalesce(func.sum(SquadMember.allocation_pct), 0))
        .join(Project, Project.id == SquadMember.project_id)
        .where(
            SquadMember.person_id == person_id,
            SquadMember.left_at.is_(None),
            Project.status.in_((ProjectStatus.DRAFT, ProjectStatus.ACTIVE)),
        )
    )
    if excluding_project is not None:
        query = query.where(SquadMember.project_id != excluding_project)
    return int(await session.scalar(query) or 0)


async def current_members(session: AsyncSession, project_id: int) -> Sequence[SquadMember]:
    query = select(SquadMember).where(SquadMember.project_id == project_id, SquadMember.left_at.is_(None))
    return (await session.scalars(query)).all()


async def slots_of(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, list[SquadSlot]]:
    grouped: dict[int, list[SquadSlot]] = {project_id: [] for project_id in project_ids}
    query = select(SquadSlot).where(SquadSlot.project_id.in_(project_ids)).order_by(SquadSlot.id)
    for slot in (await session.scalars(query)).all():
        grouped[slot.project_id].append(slot)
    return grouped


async def members_of(
    session: AsyncSession, project_ids: Sequence[int], *, include_former: bool
) -> dict[int, list[SquadMember]]:
    grouped: dict[int, list[SquadMember]] = {project_id: [] for project_id in project_ids}
    query = (
        select(SquadMember)
        .where(SquadMember.project_id.in_(project_ids))
        .order_by(SquadMember.joined_at, SquadMember.id)
    )
    if not include_former:
        query = query.where(SquadMember.left_at.is_(None))
    for member in (await session.scalars(query)).all():
        grouped[member.project_id].append(member)
    return grouped


def _filtered(project_filter: ProjectFilter) -> Select[Project]:
    query = select(Project)
    if project_filter.statuses:
        query = query.where(Project.status.in_(project_filter.statuses))
    if project_filter.customer_unit_id is not None:
        query = query.where(Project.customer_unit_id == project_filter.customer_unit_id)
    if project_filter.product_line_unit_id is not None:
        query = query.where(Project.product_line_unit_id == project_filter.product_line_unit_id)
    if project_filter.ends_before is not None:
        query = query.where(Project.ends_at < project_filter.ends_before)
    if project_filter.ends_after is not None:
        query = query.where(Project.ends_at >= project_filter.ends_after)
    if project_filter.member_person_id is not None:
        member = select(SquadMember.id).where(
            SquadMember.project_id == Project.id, SquadMember.person_id == project_filter.member_person_id
        )
        query = query.where(member.exists())
    return query


async def projects_visible_to(
    session: AsyncSession, project_filter: ProjectFilter, *, subject: str | None, at: datetime, limit: int
) -> Sequence[Project]:
    """Projects matching the filter; with ``subject``, only those it holds a live grant in."""
    query = _filtered(project_filter)
    if subject is not None:
        prefix = f"{ScopeKind.PROJECT.value}:"
        scopes = select(Grant.scope).where(
            Grant.subject == subject,
            Grant.scope.startswith(prefix),
            Grant.valid_from <= at,
            or_(Grant.valid_until.is_(None), Grant.valid_until > at),
            or_(Grant.revoked_at.is_(None), Grant.revoked_at > at),
        )
        query = query.where((literal(prefix) + cast(Project.id, String)).in_(scopes))
    return (await session.scalars(query.order_by(Project.ends_at, Project.id).limit(limit))).all()
