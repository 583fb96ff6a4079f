"""What the matcher needs from the database, fetched in a few set-based statements."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Integer, Select, case, func, select
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


def _claims_query(floors: dict[int, int]) -> Select[int, int, int, datetime, int]:
    """Current claims on these skills at or above the lowest level any slot asks for."""
    return select(
        SkillClaim.person_id, SkillClaim.skill_id, SkillClaim.level, SkillClaim.evidence_at, SkillClaim.id
    ).where(
        SkillClaim.superseded_at.is_(None),
        SkillClaim.skill_id.in_(list(floors)),
        SkillClaim.level >= min(floors.values()),
    )


async def claims_on(session: AsyncSession, floors: dict[int, int]) -> dict[int, dict[int, ClaimFacts]]:
    """Active people's current claims on these skills at or above each skill's lowest asked level.

    Three narrow statements (claims, their endorsement counts, the few inactive people) instead of
    one join: the join made PostgreSQL hash the whole people table on every proposal.
    """
    if not floors:
        return {}
    connection = await session.connection()
    claims = (await connection.execute(_claims_query(floors))).all()
    # driven by the endorsements (far fewer than claims), joined to the claims of the asked skills
    counts = (
        select(Endorsement.claim_id, func.count(), func.sum(case((Endorsement.shared_squad, 1), else_=0)).cast(Integer))
        .join(SkillClaim, SkillClaim.id == Endorsement.claim_id)
        .where(SkillClaim.skill_id.in_(list(floors)), SkillClaim.superseded_at.is_(None))
        .group_by(Endorsement.claim_id)
    )
    endorsed = {
        claim_id: (int(total), int(shared)) for claim_id, total, shared in (await connection.execute(counts)).all()
    }
    inactive = set((await connection.execute(select(Person.id).where(Person.active.is_(False)))).scalars().all())
    grouped: dict[int, dict[int, ClaimFacts]] = defaultdict(dict)
    for person_id, skill_id, level, evidence_at, claim_id in claims:
        if level >= floors[skill_id] and person_id not in inactive:
            total, shared = endorsed.get(claim_id, (0, 0))
            grouped[person_id][skill_id] = ClaimFacts(level, evidence_at, total, shared)
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
    session: AsyncSession, floors: dict[int, int], dimension_keys: Sequence[str], at: datetime
) -> dict[int, dict[str, int]]:
    """The current unit per dimension of everyone holding a claim the proposal considers (home wins)."""
    if not dimension_keys or not floors:
        return {}
    holders = _claims_query(floors).with_only_columns(SkillClaim.person_id).scalar_subquery()
    query = (
        select(Membership.person_id, Dimension.key, Membership.unit_id, Membership.kind)
        .join(Unit, Unit.id == Membership.unit_id)
        .join(Dimension, Dimension.id == Unit.dimension_id)
        .where(Membership.person_id.in_(holders), Dimension.key.in_(dimension_keys), current(Membership, at))
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    connection = await session.connection()
    for person_id, key, unit_id, kind in (await connection.execute(query)).all():
        if key not in found[person_id] or kind == MembershipKind.HOME:
            found[person_id][key] = unit_id
    return found
