"""What the matcher needs from the database, fetched in a few set-based statements.

The candidates' claims and units are tens of thousands of rows: they come back as numpy columns, which
PostgreSQL sends packed (``cellorg.core.columns``).
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.columns import among, read_columns, run_starts
from cellorg.org.models import Dimension, Membership, MembershipKind, Person, Unit
from cellorg.org.repository import current
from cellorg.projects.models import Project, ProjectStatus, SquadMember, SquadSlot
from cellorg.talent_pool.models import Availability, Endorsement, SkillClaim, SlotRequirement

Columns = list[NDArray[Any]]  # int64, float64 for float columns


async def slots_with_requirements(session: AsyncSession, slot_ids: Sequence[int]) -> set[int]:
    query = select(SlotRequirement.slot_id).where(SlotRequirement.slot_id.in_(slot_ids)).distinct()
    return set((await session.scalars(query)).all())


async def slots_of_project(session: AsyncSession, project_id: int) -> list[SquadSlot]:
    query = select(SquadSlot).where(SquadSlot.project_id == project_id).order_by(SquadSlot.id)
    return list((await session.scalars(query)).all())


async def requirements(session: AsyncSession, slot_ids: Sequence[int]) -> Columns:
    """The slots' requirements in id order: (id, slot, minimum level, weight) columns."""
    query = (
        select(SlotRequirement.id, SlotRequirement.slot_id, SlotRequirement.min_level, SlotRequirement.weight)
        .where(SlotRequirement.slot_id.in_(slot_ids))
        .order_by(SlotRequirement.id)
    )
    return await read_columns(await session.connection(), query)


async def claims_meeting(session: AsyncSession, requirement_ids: NDArray[np.int64]) -> Columns:
    """Every current claim at or above the minimum level of one of these requirements, one row per pair, in as
    few columns as it can (packing each costs PostgreSQL more than reading the claim): (requirement, person,
    claim, level, evidence_at) columns.

    Only the requirements given: one added since they were read (another snapshot) waits for the next proposal.
    """
    connection = await session.connection()
    query = (
        select(SlotRequirement.id, SkillClaim.person_id, SkillClaim.id, SkillClaim.level, SkillClaim.evidence_at)
        .join(
            SkillClaim,
            and_(
                SkillClaim.skill_id == SlotRequirement.skill_id,
                SkillClaim.superseded_at.is_(None),
                SkillClaim.level >= SlotRequirement.min_level,
            ),
        )
        .where(among(connection, SlotRequirement.id, requirement_ids))
    )
    return await read_columns(connection, query)


async def inactive_people(session: AsyncSession) -> NDArray[np.int64]:
    (inactive,) = await read_columns(await session.connection(), select(Person.id).where(Person.active.is_(False)))
    return inactive


async def endorsement_counts(
    session: AsyncSession, claim_ids: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each claim's endorsements, and how many of them come from people who shared a squad with the claimant."""
    connection = await session.connection()
    endorsed, total, shared = await read_columns(
        connection,
        select(
            Endorsement.claim_id,
            func.count().cast(Integer),
            func.sum(case((Endorsement.shared_squad, 1), else_=0)).cast(Integer),
        )
        .where(among(connection, Endorsement.claim_id, claim_ids))
        .group_by(Endorsement.claim_id),
    )
    counts = np.zeros((2, len(claim_ids)), dtype=np.int64)
    if len(endorsed):
        order = np.argsort(endorsed)
        position = order[np.searchsorted(endorsed[order], claim_ids).clip(max=len(endorsed) - 1)]
        found = endorsed[position] == claim_ids
        counts[:, found] = total[position[found]], shared[position[found]]
    return counts[0], counts[1]


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
    session: AsyncSession, person_ids: NDArray[np.int64], dimension_keys: Sequence[str], at: datetime
) -> dict[int, dict[str, int]]:
    """The current unit per dimension of these people: the home membership's, else the first recorded one's."""
    if not dimension_keys or not len(person_ids):
        return {}
    connection = await session.connection()
    query = select(Dimension.id, Dimension.key).where(Dimension.key.in_(dimension_keys))
    keys: dict[int, str] = dict((await connection.execute(query)).all())
    person, dimension, unit, away, membership = await read_columns(
        connection,
        select(
            Membership.person_id,
            Unit.dimension_id,
            Membership.unit_id,
            case((Membership.kind == MembershipKind.HOME, 0), else_=1),
            Membership.id,
        )
        .join(Unit, Unit.id == Membership.unit_id)
        .where(
            among(connection, Membership.person_id, person_ids),
            Unit.dimension_id.in_(list(keys)),
            current(Membership, at),
        ),
    )
    order = np.lexsort((membership, away, dimension, person))
    chosen = order[run_starts(person[order], dimension[order])]
    found: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for person_id, dimension_id, unit_id in zip(
        person[chosen].tolist(), dimension[chosen].tolist(), unit[chosen].tolist(), strict=True
    ):
        found[person_id][keys[dimension_id]] = unit_id
    return found
