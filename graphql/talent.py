"""The talent pool in GraphQL: the skill taxonomy, claims, endorsements, availability, slot requirements."""

from datetime import date, datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from cellorg.core.errors import ValidationFailed
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.graphql.org import Person
from cellorg.permissions.catalogue import ORG_READ, SKILLS_CURATE, SKILLS_USE, SQUAD_WRITE, project_scope
from cellorg.projects.models import SquadSlot
from cellorg.projects.service import StaffingRules
from cellorg.talent_pool import matcher, models, proposals, service


@strawberry.type
class Skill:
    id: int
    name: str
    category: str
    parent_id: int | None
    aliases: list[str]
    status: str

    @classmethod
    def of(cls, row: models.Skill) -> "Skill":
        return cls(
            id=row.id,
            name=row.name,
            category=row.category,
            parent_id=row.parent_id,
            aliases=list(row.aliases),
            status=row.status.value,
        )


@strawberry.type
class EvidenceItem:
    text: str
    url: str | None


@strawberry.type
class SkillClaim:
    id: int
    person_id: int
    skill_id: int
    level: int
    evidence: list[EvidenceItem]
    claimed_at: datetime
    superseded_at: datetime | None

    @classmethod
    def of(cls, row: models.SkillClaim) -> "SkillClaim":
        return cls(
            id=row.id,
            person_id=row.person_id,
            skill_id=row.skill_id,
            level=row.level,
            evidence=[EvidenceItem(text=e["text"], url=e["url"]) for e in row.evidence],
            claimed_at=row.claimed_at,
            superseded_at=row.superseded_at,
        )


@strawberry.type
class Endorsement:
    id: int
    claim_id: int
    endorser_id: int
    shared_squad: bool = strawberry.field(description="Endorser and claimant shared a squad in the last 12 months.")
    created_at: datetime


@strawberry.type
class Availability:
    id: int
    person_id: int
    starts_on: date
    ends_on: date
    capacity_pct: int


@strawberry.type
class SlotRequirement:
    id: int
    slot_id: int
    skill_id: int
    min_level: int
    weight: float


@strawberry.input
class EvidenceInput:
    text: str = ""
    url: str | None = None


SkillResult = Annotated[Skill | ValidationError | NotFound | PermissionDenied, strawberry.union("SkillResult")]
ClaimResult = Annotated[SkillClaim | ValidationError | NotFound | PermissionDenied, strawberry.union("ClaimResult")]
EndorsementResult = Annotated[
    Endorsement | ValidationError | NotFound | PermissionDenied, strawberry.union("EndorsementResult")
]
AvailabilityResult = Annotated[
    Availability | ValidationError | NotFound | PermissionDenied, strawberry.union("AvailabilityResult")
]
RequirementResult = Annotated[
    SlotRequirement | ValidationError | NotFound | PermissionDenied, strawberry.union("SlotRequirementResult")
]


@strawberry.type
class TalentQuery:
    @query_field(description="The skill taxonomy, searched by name or alias.")
    async def skills(self, info: Info, search: str | None = None, include_pending: bool = False) -> list[Skill]:
        info.context.require(ORG_READ)
        return [
            Skill.of(s) for s in await service.search_skills(info.context.db, search, include_pending=include_pending)
        ]

    @query_field(description="A person's skill claims; with includeHistory, the superseded levels too.")
    async def claims(self, info: Info, person_id: int, include_history: bool = False) -> list[SkillClaim]:
        info.context.require(ORG_READ)
        query = select(models.SkillClaim).where(models.SkillClaim.person_id == person_id)
        if not include_history:
            query = query.where(models.SkillClaim.superseded_at.is_(None))
        rows = (await info.context.db.scalars(query.order_by(models.SkillClaim.claimed_at, models.SkillClaim.id))).all()
        return [SkillClaim.of(row) for row in rows]

    @query_field(description="Who vouched for a claim, and whether they shared a squad with the claimant.")
    async def endorsements(self, info: Info, claim_id: int) -> list[Endorsement]:
        info.context.require(ORG_READ)
        query = (
            select(models.Endorsement).where(models.Endorsement.claim_id == claim_id).order_by(models.Endorsement.id)
        )
        return [_endorsement(row) for row in (await info.context.db.scalars(query)).all()]

    @query_field(description="A person's declared availability periods.")
    async def availability(self, info: Info, person_id: int) -> list[Availability]:
        info.context.require(ORG_READ)
        query = (
            select(models.Availability)
            .where(models.Availability.person_id == person_id)
            .order_by(models.Availability.starts_on)
        )
        return [_availability(row) for row in (await info.context.db.scalars(query)).all()]


async def _new_skill(
    info: Info, name: str, category: str, parent_id: int | None, aliases: list[str] | None, *, curated: bool
) -> Skill:
    """A curator's skill is approved at once; a member's proposal waits for a curator."""
    viewer = info.context.viewer.person_id
    skill = await service.add_skill(
        info.context.db,
        name=name,
        category=category,
        parent_id=parent_id,
        aliases=aliases or [],
        proposed_by=None if curated else viewer,
        approved_by=viewer if curated else None,
    )
    return Skill.of(skill)


def _endorsement(row: models.Endorsement) -> Endorsement:
    return Endorsement(
        id=row.id,
        claim_id=row.claim_id,
        endorser_id=row.endorser_id,
        shared_squad=row.shared_squad,
        created_at=row.created_at,
    )


def _availability(row: models.Availability) -> Availability:
    return Availability(
        id=row.id,
        person_id=row.person_id,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        capacity_pct=row.capacity_pct,
    )


@strawberry.type
class TalentMutation:
    @mutation_field(description="Curators add approved skills to the taxonomy.")
    async def add_skill(
        self, info: Info, name: str, category: str, parent_id: int | None = None, aliases: list[str] | None = None
    ) -> SkillResult:
        info.context.require(SKILLS_CURATE)
        return await _new_skill(info, name, category, parent_id, aliases, curated=True)

    @mutation_field(description="Members propose a skill; it stays pending until a curator decides.")
    async def propose_skill(
        self, info: Info, name: str, category: str, parent_id: int | None = None, aliases: list[str] | None = None
    ) -> SkillResult:
        info.context.require(SKILLS_USE)
        return await _new_skill(info, name, category, parent_id, aliases, curated=False)

    @mutation_field()
    async def decide_skill(self, info: Info, skill_id: int, approve: bool) -> SkillResult:
        info.context.require(SKILLS_CURATE)
        skill = await service.decide_skill(
            info.context.db, skill_id, approve=approve, decided_by=info.context.viewer.person_id
        )
        return Skill.of(skill)

    @mutation_field(description="Claim a skill at a level (1-5) for yourself, with evidence.")
    async def claim_skill(
        self, info: Info, skill_id: int, level: int, evidence: list[EvidenceInput] | None = None
    ) -> ClaimResult:
        info.context.require(SKILLS_USE)
        claim = await service.claim_skill(
            info.context.db,
            person_id=info.context.viewer.person_id,
            skill_id=skill_id,
            level=level,
            evidence=[service.Evidence(text=e.text, url=e.url) for e in evidence or []],
        )
        return SkillClaim.of(claim)

    @mutation_field(description="Vouch for a colleague's claim.")
    async def endorse_claim(self, info: Info, claim_id: int, comment: str = "") -> EndorsementResult:
        info.context.require(SKILLS_USE)
        row = await service.endorse(
            info.context.db, claim_id=claim_id, endorser_id=info.context.viewer.person_id, comment=comment
        )
        return _endorsement(row)

    @mutation_field(description="Say how much of you is available over a period.")
    async def set_availability(
        self, info: Info, starts_on: date, ends_on: date, capacity_pct: int
    ) -> AvailabilityResult:
        info.context.require(SKILLS_USE)
        row = await service.set_availability(
            info.context.db,
            person_id=info.context.viewer.person_id,
            starts_on=starts_on,
            ends_on=ends_on,
            capacity_pct=capacity_pct,
        )
        return _availability(row)

    @mutation_field(description="A skill a squad slot needs, with its minimum level and weight.")
    async def add_slot_requirement(
        self, info: Info, slot_id: int, skill_id: int, min_level: int, weight: float = 1.0
    ) -> RequirementResult:
        slot = await info.context.db.get(SquadSlot, slot_id)
        info.context.require(SQUAD_WRITE, project_scope(slot.project_id if slot else 0))
        row = await service.add_requirement(
            info.context.db, slot_id=slot_id, skill_id=skill_id, min_level=min_level, weight=weight
        )
        return SlotRequirement(
            id=row.id, slot_id=row.slot_id, skill_id=row.skill_id, min_level=row.min_level, weight=row.weight
        )


@strawberry.type(description="The squad members an accepted proposal created.")
class Staffed:
    member_ids: list[int]


@strawberry.type
class ScorePart:
    name: str
    value: float


@strawberry.type
class Candidate:
    person_id: int
    score: float
    parts: list[ScorePart]

    @strawberry.field
    async def person(self, info: Info) -> Person:
        return Person.of(await info.context.loaders.person.load(self.person_id))


@strawberry.type
class ProposedSeat:
    slot_id: int
    chosen: Candidate
    alternatives: list[Candidate] = strawberry.field(description="The next-best people for this slot, not chosen.")

    @strawberry.field
    async def slot_title(self, info: Info) -> str:
        slot = await info.context.db.get(SquadSlot, self.slot_id)
        return slot.title if slot else ""


@strawberry.type(description="The squad with the highest total score that meets every constraint.")
class SquadProposal:
    total: float
    seats: list[ProposedSeat]


@strawberry.type(description="No squad meets the constraints; the reasons say which one cannot be met.")
class InfeasibleSquad:
    reasons: list[str]


@strawberry.input
class UnitCapInput:
    dimension: str
    limit: int


@strawberry.input
class DistinctUnitsInput:
    dimension: str
    count: int


@strawberry.input
class SquadConstraintsInput:
    max_per_unit: list[UnitCapInput] = strawberry.field(default_factory=list)
    min_distinct_units: list[DistinctUnitsInput] = strawberry.field(default_factory=list)
    include: list[int] = strawberry.field(default_factory=list)
    exclude: list[int] = strawberry.field(default_factory=list)


@strawberry.input
class SeatInput:
    slot_id: int
    person_id: int


ProposalResult = Annotated[
    SquadProposal | InfeasibleSquad | ValidationError | NotFound | PermissionDenied, strawberry.union("ProposalResult")
]
StaffingResult = Annotated[Staffed | ValidationError | NotFound | PermissionDenied, strawberry.union("StaffingResult")]


def _candidate(person_id: int, score: matcher.Score) -> Candidate:
    parts = [ScorePart(name=name, value=value) for name, value in score.parts.items()]
    return Candidate(person_id=person_id, score=score.total, parts=parts)


def _constraints(given: SquadConstraintsInput) -> matcher.SquadConstraints:
    if any(cap.limit < 0 for cap in given.max_per_unit) or any(d.count < 0 for d in given.min_distinct_units):
        raise ValidationFailed("limits and counts are zero or more", field="constraints")
    return matcher.SquadConstraints(
        max_per_unit=tuple(matcher.MaxPerUnit(cap.dimension, cap.limit) for cap in given.max_per_unit),
        min_distinct=tuple(matcher.MinDistinctUnits(d.dimension, d.count) for d in given.min_distinct_units),
        include=frozenset(given.include),
        exclude=frozenset(given.exclude),
    )


def _settings(info: Info) -> proposals.ProposalSettings:
    return proposals.ProposalSettings(max_allocation_pct=info.context.services.runtime.settings.max_allocation_pct)


@strawberry.type
class ProposalMutation:
    @mutation_field(description="The best squad for the project's open seats from the whole talent pool, with reasons.")
    async def propose_squad(
        self, info: Info, project_id: int, constraints: SquadConstraintsInput | None = None
    ) -> ProposalResult:
        info.context.require(SQUAD_WRITE, project_scope(project_id))
        result = await proposals.propose_squad(
            info.context.db, project_id, _constraints(constraints or SquadConstraintsInput()), _settings(info)
        )
        if isinstance(result, matcher.Infeasible):
            return InfeasibleSquad(reasons=list(result.reasons))
        return SquadProposal(
            total=result.total,
            seats=[
                ProposedSeat(
                    slot_id=seat.slot_id,
                    chosen=_candidate(seat.person_id, seat.score),
                    alternatives=[_candidate(a.person_id, a.score) for a in seat.alternatives],
                )
                for seat in result.assignments
            ],
        )

    @mutation_field(description="Staff the accepted seats: each person joins with the slot's project role.")
    async def accept_proposal(self, info: Info, project_id: int, seats: list[SeatInput]) -> StaffingResult:
        info.context.require(SQUAD_WRITE, project_scope(project_id))
        members = await proposals.accept_proposal(
            info.context.db,
            info.context.services.policy,
            project_id,
            [(s.slot_id, s.person_id) for s in seats],
            accepted_by=info.context.viewer.subject,
            staffing=StaffingRules(max_allocation_pct=info.context.services.runtime.settings.max_allocation_pct),
        )
        return Staffed(member_ids=[member.id for member in members])
