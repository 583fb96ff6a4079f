"""What the matcher needs from the database, fetched in a few set-based statements."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Integer, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.org.models import Dimension, Membership, MembershipKind, Person, Unit
from cellorg.org.repository import current
from cellorg.projects.models import Project, ProjectStatus, SquadMember, SquadSlot
from cellorg.talent_pool.models import Availability, Endorsement, SkillClaim, SlotRequirement
from cellorg.talent_pool.scoring import ClaimFacts, Requirement


async def requirements_of(session: AsyncSession, slot_ids: Sequence[int]) -> dict[int, list[Requirement]]:
    grouped: dict[int, list[Requirement]] = {slot_id: [] for slot_id in slot_ids}
    query = select(SlotRequirement).where(SlotRequirement.slot_id.in_(slot_ids)).order_by(SlotRequirement.id)
    for row in (await session.scalars(query)).all():
        grouped[row.slot_id].append(Requirement(row.skill_id, row.min_level, row.weight))
    return grouped


async def slots_of_project(session: AsyncSession, project_id: int) -> list[SquadSlot]:
    query = select(SquadSlot).where(SquadSlot.project_id == project_id).order_by(SquadSlot.id)
    return list((await session.scalars(query)).all())


async def claims_on(session: AsyncSession, floors: dict[int, int]) -> dict[int, dict[int, ClaimFacts]]:
    """Active people's current claims on these skills at or above each skill's lowest asked level."""
    if not floors:
        return {}
    endorsements = (
        select(
            Endorsement.claim_id,
            func.count().label("total"),
            func.sum(case((Endorsement.shared_squad, 1), else_=0)).cast(Integer).label("shared"),
        )
        .group_by(Endorsement.claim_id)
        .subquery()
    )
    query = (
        select(
            SkillClaim.person_id,
            SkillClaim.skill_id,
            SkillClaim.level,
            SkillClaim.evidence_at,
            func.coalesce(endorsements.c.total, 0),
            func.coalesce(endorsements.c.shared, 0),
        )
        .join(Person, Person.id == SkillClaim.person_id)
        .outerjoin(endorsements, endorsements.c.claim_id == SkillClaim.id)
        .where(
            SkillClaim.superseded_at.is_(None),
            Person.active.is_(True),
            or_(
                *((SkillClaim.skill_id == skill_id) & (SkillClaim.level >= floor) for skill_id, floor in floors.items())
            ),
        )
    )
    grouped: dict[int, dict[int, ClaimFacts]] = defaultdict(dict)
    connection = await session.connection()
    for person_id, skill_id, level, evidence_at, total, shared in (await connection.execute(query)).all():
        grouped[person_id][skill_id] = ClaimFacts(level, evidence_at, int(total), int(shared))
    return grouped


async def allocations(session: AsyncSession, *, excluding_project: int) -> dict[int, int]:
    """How much of each person the other open squads hold now (only people with any allocation)."""
    query = (
        select(SquadMember.person_id, func.sum(SquadMember.allocation_pct))
        .join(Project, Project.id == SquadMember.project_id)
        .where(
            SquadMember.left_at.is_(None),
            SquadMember.project_id != excluding_project,
            Project.status.in_((ProjectStatus.DRAFT, ProjectStatus.ACTIVE)),
        )
        .group_by(SquadMember.person_id)
    )
    return {person_id: int(total) for person_id, total in (await session.execute(query)).all()}


async def capacities(session: AsyncSession, starts: date, ends: date) -> dict[int, int]:
    """The lowest declared capacity of each person over [starts, ends]; people not listed are at 100%."""
    query = (
        select(Availability.person_id, func.min(Availability.capacity_pct))
        .where(Availability.starts_on <= ends, Availability.ends_on >= starts)
        .group_by(Availability.person_id)
    )
    return {person_id: int(capacity) for person_id, capacity in (await session.execute(query)).all()}


async def units_by_dimension(
    session: AsyncSession, person_ids: Sequence[int], dimension_keys: Sequence[str], at: datetime
) -> dict[int, dict[str, int]]:
    """Each person's current unit per dimension (a home membership wins over a matrix one)."""
    if not dimension_keys or not person_ids:
        return {}
    query = (
        select(Membership.person_id, Dimension.key, Membership.unit_id, Membership.kind)
        .join(Unit, Unit.id == Membership.unit_id)
        .join(Dimension, Dimension.id == Unit.dimension_id)
        .where(Membership.person_id.in_(person_ids), Dimension.key.in_(dimension_keys), current(Membership, at))
        .order_by(Membership.person_id, Membership.id)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for person_id, key, unit_id, kind in (await session.execute(query)).all():
        if key not in found[person_id] or kind == MembershipKind.HOME:
            found[person_id][key] = unit_id
    return found


async def names_of(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    query = select(Person.id, Person.name).where(Person.id.in_(person_ids))
    if not person_ids:
        return {}
    return dict((await session.execute(query)).all())
