"""The talent pool in GraphQL: the skill taxonomy, claims, endorsements, availability, slot requirements."""

from datetime import date, datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.permissions.catalogue import ORG_READ, SKILLS_CURATE, SKILLS_USE, SQUAD_WRITE, project_scope
from cellorg.projects.models import SquadSlot
from cellorg.talent_pool import models, service


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


@strawberry.type
class TalentMutation:
    @mutation_field(description="Curators add approved skills to the taxonomy.")
    async def add_skill(
        self, info: Info, name: str, category: str, parent_id: int | None = None, aliases: list[str] | None = None
    ) -> SkillResult:
        info.context.require(SKILLS_CURATE)
        skill = await service.add_skill(
            info.context.db,
            name=name,
            category=category,
            parent_id=parent_id,
            aliases=aliases or [],
            proposed_by=None,
            approved_by=info.context.viewer.person_id,
        )
        return Skill.of(skill)

    @mutation_field(description="Members propose a skill; it stays pending until a curator decides.")
    async def propose_skill(
        self, info: Info, name: str, category: str, parent_id: int | None = None, aliases: list[str] | None = None
    ) -> SkillResult:
        info.context.require(SKILLS_USE)
        skill = await service.add_skill(
            info.context.db,
            name=name,
            category=category,
            parent_id=parent_id,
            aliases=aliases or [],
            proposed_by=info.context.viewer.person_id,
            approved_by=None,
        )
        return Skill.of(skill)

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
        return Endorsement(
            id=row.id,
            claim_id=row.claim_id,
            endorser_id=row.endorser_id,
            shared_squad=row.shared_squad,
            created_at=row.created_at,
        )

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
        return Availability(
            id=row.id,
            person_id=row.person_id,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            capacity_pct=row.capacity_pct,
        )

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
