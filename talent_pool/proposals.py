"""Proposing a squad from the whole talent pool, and staffing it once the manager accepts."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.columns import microseconds_since_epoch, run_starts
from cellorg.core.db import get_or_fail
from cellorg.core.errors import ValidationFailed
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.projects.models import Project, SquadMember, SquadSlot
from cellorg.projects.repository import current_members
from cellorg.talent_pool import repository as repo
from cellorg.talent_pool.matcher import Candidate, Infeasible, Proposal, Score, Slot, SquadConstraints, match
from cellorg.talent_pool.scoring import PARTS, HeldRequirements, ScoringRules, fits


@dataclass(frozen=True)
class ProposalSettings:
    max_allocation_pct: int = 100
    scoring: ScoringRules = field(default_factory=ScoringRules)
    alternatives: int = 3


async def propose_squad(
    session: AsyncSession,
    project_id: int,
    constraints: SquadConstraints,
    settings: ProposalSettings = ProposalSettings(),
) -> Proposal | Infeasible:
    """The best squad for the project's open seats under ``constraints``, found exactly by the matcher."""
    project = await get_or_fail(session, Project, project_id)
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: it takes no new members", field="projectId")
    members = await current_members(session, project.id)
    taken: defaultdict[int, int] = defaultdict(int)
    for member in members:
        taken[member.slot_id] += 1
    slots = [slot for slot in await repo.slots_of_project(session, project.id) if slot.headcount > taken[slot.id]]
    if not slots:
        raise ValidationFailed("every slot of the project is already staffed", field="projectId")
    needing = await repo.slots_with_requirements(session, [slot.id for slot in slots])
    bare = [slot.title for slot in slots if slot.id not in needing]
    if bare:
        return Infeasible(reasons=tuple(f"slot {title!r} lists no required skills" for title in bare))
    now = utcnow()
    in_squad = {member.person_id for member in members}
    pool = await candidate_claims(session, [slot.id for slot in slots], excluding=in_squad, at=now)
    scores = await _scores(session, project, slots, pool, settings)
    eligible = sorted({person_id for _slot, person_id in scores})
    dimensions = sorted(
        {c.dimension for c in constraints.max_per_unit} | {c.dimension for c in constraints.min_distinct}
    )
    units = await repo.units_by_dimension(session, np.array(eligible, dtype=np.int64), dimensions, now)
    candidates = [Candidate(person_id, units.get(person_id, {})) for person_id in eligible]
    open_seats = [Slot(slot.id, slot.headcount - taken[slot.id]) for slot in slots]
    return match(open_seats, candidates, scores, constraints, alternatives=settings.alternatives)


@dataclass(frozen=True, slots=True)
class CandidateClaims:
    """The (slot, person) pairs whose person holds every requirement of the slot, with the claims meeting them."""

    slot_id: NDArray[np.int64]  # per pair
    person_id: NDArray[np.int64]  # per pair
    held: HeldRequirements  # per requirement of each pair, with the age of the evidence at ``at``


async def candidate_claims(
    session: AsyncSession, slot_ids: Sequence[int], *, excluding: Collection[int], at: datetime
) -> CandidateClaims:
    """Every active person's pairs with these slots, apart from the ``excluding`` people.

    The database sends each requirement's claims at or above its minimum level; numpy keeps the pairs that meet
    every requirement, which costs less than grouping in PostgreSQL. A person with two current claims on one
    skill (the service never makes them) counts once, with the newest of them that meets the minimum level.
    """
    requirement_ids, requirement_slots, min_levels, weights = await repo.requirements(session, slot_ids)
    met_requirement, person, claim, level, evidence_at = await repo.claims_meeting(session, requirement_ids)
    need = np.searchsorted(requirement_ids, met_requirement)  # the row's requirement, in requirement order
    slot = requirement_slots[need]
    _, slot_of_requirement, requirements_of_slot = np.unique(requirement_slots, return_inverse=True, return_counts=True)
    rows = _meeting_every_requirement(slot, person, need, claim, requirements_of_slot[slot_of_requirement])
    left_out = np.concatenate([await repo.inactive_people(session), np.fromiter(excluding, np.int64, len(excluding))])
    rows = rows[~np.isin(person[rows], left_out)]
    starts = run_starts(slot[rows], person[rows])
    endorsements, shared = await repo.endorsement_counts(session, claim[rows])
    held = HeldRequirements(
        pair=np.cumsum(starts) - 1,
        level=level[rows],
        min_level=min_levels[need[rows]],
        weight=weights[need[rows]],
        age_seconds=(microseconds_since_epoch(at) - evidence_at[rows]) / 1e6,
        endorsements=endorsements,
        shared_squad_endorsements=shared,
    )
    return CandidateClaims(slot[rows][starts], person[rows][starts], held)


def _meeting_every_requirement(
    slot: NDArray[np.int64],
    person: NDArray[np.int64],
    need: NDArray[np.intp],
    claim: NDArray[np.int64],
    needed: NDArray[np.intp],
) -> NDArray[np.intp]:
    """The claim rows whose (slot, person) pair meets every requirement of the slot (``needed``: how many the
    slot of each requirement has), sorted by pair and requirement, the newest claim of a repeated requirement."""
    order = np.lexsort((claim, need, person, slot))
    rows = order[np.roll(run_starts(slot[order], person[order], need[order]), -1)]
    starts = run_starts(slot[rows], person[rows])
    pair = np.cumsum(starts) - 1
    complete: NDArray[np.intp] = rows[(np.bincount(pair) == needed[need[rows][starts]])[pair]]
    return complete


async def _scores(
    session: AsyncSession,
    project: Project,
    slots: list[SquadSlot],
    pool: CandidateClaims,
    settings: ProposalSettings,
) -> dict[tuple[int, int], Score]:
    """The fit of each candidate pair whose person has some of their time free for the project."""
    allocated = await repo.allocations(session, excluding_project=project.id)
    capacity = await repo.capacities(session, project.starts_at.date(), project.ends_at.date())
    free = np.array(
        [
            min(capacity.get(person_id, 100), settings.max_allocation_pct) - allocated.get(person_id, 0)
            for person_id in pool.person_id.tolist()
        ],
        dtype=np.int64,
    )
    allocation_of = {slot.id: slot.allocation_pct for slot in slots}
    allocation = np.array([allocation_of[slot_id] for slot_id in pool.slot_id.tolist()], dtype=np.int64)
    fitted = fits(pool.held, free, allocation, settings.scoring)
    breakdowns = zip(*(part.tolist() for part in fitted.parts), strict=True)
    return {
        (slot_id, person_id): Score(total, dict(zip(PARTS, parts, strict=True)))
        for slot_id, person_id, total, parts, has_time in zip(
            pool.slot_id.tolist(),
            pool.person_id.tolist(),
            fitted.total.tolist(),
            breakdowns,
            (free > 0).tolist(),
            strict=True,
        )
        if has_time
    }


async def accept_proposal(
    session: AsyncSession,
    policy: PolicyEnforcer,
    project_id: int,
    assignments: list[tuple[int, int]],
    *,
    accepted_by: str,
    staffing: projects.StaffingRules = projects.StaffingRules(),  # noqa: B008  (frozen, shared safely)
) -> list[SquadMember]:
    """Staff the accepted seats: each person joins their slot (and gets its grant) as if added by hand."""
    project = await get_or_fail(session, Project, project_id)
    members = []
    for slot_id, person_id in assignments:
        slot = await session.get(SquadSlot, slot_id)
        if slot is None or slot.project_id != project.id:
            raise ValidationFailed(f"slot {slot_id} is not a slot of project {project.id}", field="assignments")
        members.append(
            await projects.add_member(
                session, policy, slot_id=slot_id, person_id=person_id, added_by=accepted_by, rules=staffing
            )
        )
    return members
