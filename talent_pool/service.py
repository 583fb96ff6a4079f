"""The talent pool's rules: a curated skill taxonomy, claims with history, endorsements, availability."""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.org.models import Person
from cellorg.projects.models import SquadMember, SquadSlot
from cellorg.talent_pool.models import Availability, Endorsement, Skill, SkillClaim, SkillStatus, SlotRequirement

MAX_EVIDENCE = 20
MAX_EVIDENCE_TEXT = 2_000
URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
SHARED_SQUAD_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class Evidence:
    text: str = ""
    url: str | None = None


def normalized(name: str) -> str:
    return " ".join(name.lower().split())


async def _active_person(session: AsyncSession, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    if person is None or not person.active:
        raise NotFoundError("Person", person_id)
    return person


async def add_skill(
    session: AsyncSession,
    *,
    name: str,
    category: str,
    parent_id: int | None,
    aliases: list[str],
    proposed_by: int | None,
    approved_by: int | None,
) -> Skill:
    """A skill of the taxonomy: approved when a curator adds it, pending when a member proposes it."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 120:
        raise ValidationFailed("a skill name is 1 to 120 characters", field="name")
    if await session.scalar(select(Skill.id).where(Skill.normalized_name == normalized(name))) is not None:
        raise ValidationFailed(f"skill {name!r} already exists", field="name")
    if parent_id is not None and (await get_or_fail(session, Skill, parent_id)).status is not SkillStatus.APPROVED:
        raise ValidationFailed("a skill's parent must be an approved skill", field="parentId")
    skill = Skill(
        name=name,
        normalized_name=normalized(name),
        category=category.strip() or "General",
        parent_id=parent_id,
        aliases=sorted({normalized(alias) for alias in aliases if alias.strip()}),
        status=SkillStatus.APPROVED if approved_by is not None else SkillStatus.PENDING,
        proposed_by=proposed_by,
        decided_by=approved_by,
        created_at=utcnow(),
    )
    session.add(skill)
    await session.flush()
    return skill


async def decide_skill(session: AsyncSession, skill_id: int, *, approve: bool, decided_by: int) -> Skill:
    skill = await get_or_fail(session, Skill, skill_id)
    if skill.status is not SkillStatus.PENDING:
        raise ValidationFailed(f"skill {skill.name!r} is already {skill.status}", field="skillId")
    skill.status = SkillStatus.APPROVED if approve else SkillStatus.REJECTED
    skill.decided_by = decided_by
    await session.flush()
    return skill


async def search_skills(session: AsyncSession, text: str | None, *, include_pending: bool) -> list[Skill]:
    query = select(Skill).order_by(Skill.category, Skill.name)
    statuses = [SkillStatus.APPROVED, SkillStatus.PENDING] if include_pending else [SkillStatus.APPROVED]
    query = query.where(Skill.status.in_(statuses))
    skills = list((await session.scalars(query)).all())
    if not text:
        return skills
    needle = normalized(text)
    return [s for s in skills if needle in s.normalized_name or any(needle in alias for alias in s.aliases)]


def _clean_evidence(evidence: list[Evidence]) -> list[dict[str, Any]]:
    if len(evidence) > MAX_EVIDENCE:
        raise ValidationFailed(f"at most {MAX_EVIDENCE} pieces of evidence", field="evidence")
    cleaned = []
    for piece in evidence:
        text = piece.text.strip()
        if len(text) > MAX_EVIDENCE_TEXT:
            raise ValidationFailed(f"evidence text is at most {MAX_EVIDENCE_TEXT} characters", field="evidence")
        if piece.url is not None and not URL_PATTERN.match(piece.url):
            raise ValidationFailed(f"{piece.url!r} is not an http(s) link", field="evidence")
        if not text and piece.url is None:
            raise ValidationFailed("each piece of evidence needs a text or a link", field="evidence")
        cleaned.append({"text": text, "url": piece.url})
    return cleaned


async def current_claim(session: AsyncSession, person_id: int, skill_id: int) -> SkillClaim | None:
    query = select(SkillClaim).where(
        SkillClaim.person_id == person_id, SkillClaim.skill_id == skill_id, SkillClaim.superseded_at.is_(None)
    )
    return await session.scalar(query)


async def claim_skill(
    session: AsyncSession, *, person_id: int, skill_id: int, level: int, evidence: list[Evidence]
) -> SkillClaim:
    """Claim a level; a new level supersedes the current claim (kept as history), the same level adds evidence."""
    if not 1 <= level <= 5:
        raise ValidationFailed("a level is 1 to 5", field="level")
    await _active_person(session, person_id)
    skill = await get_or_fail(session, Skill, skill_id)
    if skill.status is not SkillStatus.APPROVED:
        raise ValidationFailed(
            f"skill {skill.name!r} is {skill.status}: only approved skills are claimed", field="skillId"
        )
    cleaned = _clean_evidence(evidence)
    now = utcnow()
    existing = await current_claim(session, person_id, skill_id)
    if existing is not None and existing.level == level:
        existing.evidence = [*existing.evidence, *cleaned]
        existing.evidence_at = now
        await session.flush()
        return existing
    if existing is not None:
        existing.superseded_at = now
    claim = SkillClaim(
        person_id=person_id,
        skill_id=skill_id,
        level=level,
        evidence=cleaned,
        claimed_at=now,
        evidence_at=now,
        superseded_at=None,
    )
    session.add(claim)
    await session.flush()
    return claim


async def endorse(session: AsyncSession, *, claim_id: int, endorser_id: int, comment: str) -> Endorsement:
    claim = await session.get(SkillClaim, claim_id)
    if claim is None:
        raise NotFoundError("SkillClaim", claim_id)
    if claim.superseded_at is not None:
        raise ValidationFailed("that claim was superseded by a newer level", field="claimId")
    if claim.person_id == endorser_id:
        raise ValidationFailed("nobody endorses their own claim", field="claimId")
    await _active_person(session, endorser_id)
    taken = select(Endorsement.id).where(Endorsement.claim_id == claim_id, Endorsement.endorser_id == endorser_id)
    if await session.scalar(taken) is not None:
        raise ValidationFailed("you already endorsed this claim", field="claimId")
    endorsement = Endorsement(
        claim_id=claim_id,
        endorser_id=endorser_id,
        comment=comment.strip()[:MAX_EVIDENCE_TEXT],
        shared_squad=await shared_a_squad(session, claim.person_id, endorser_id, since=utcnow() - SHARED_SQUAD_WINDOW),
        created_at=utcnow(),
    )
    session.add(endorsement)
    await session.flush()
    return endorsement


async def shared_a_squad(session: AsyncSession, first: int, second: int, *, since: datetime) -> bool:
    """Whether two people were in the same squad at the same time after ``since``."""
    other = aliased(SquadMember)
    query = (
        select(func.count())
        .select_from(SquadMember)
        .join(other, other.project_id == SquadMember.project_id)
        .where(
            SquadMember.person_id == first,
            other.person_id == second,
            or_(SquadMember.left_at.is_(None), SquadMember.left_at > since),
            or_(other.left_at.is_(None), other.left_at > since),
            or_(SquadMember.left_at.is_(None), SquadMember.left_at > other.joined_at),
            or_(other.left_at.is_(None), other.left_at > SquadMember.joined_at),
        )
    )
    return bool(await session.scalar(query))


async def set_availability(
    session: AsyncSession, *, person_id: int, starts_on: date, ends_on: date, capacity_pct: int
) -> Availability:
    await _active_person(session, person_id)
    if ends_on < starts_on:
        raise ValidationFailed("availability must end on or after its start", field="endsOn")
    if not 0 <= capacity_pct <= 100:
        raise ValidationFailed("capacity is 0 to 100 percent", field="capacityPct")
    overlapping = select(Availability.id).where(
        Availability.person_id == person_id, Availability.starts_on <= ends_on, Availability.ends_on >= starts_on
    )
    if await session.scalar(overlapping.limit(1)) is not None:
        raise ValidationFailed("that period overlaps availability already set", field="startsOn")
    availability = Availability(person_id=person_id, starts_on=starts_on, ends_on=ends_on, capacity_pct=capacity_pct)
    session.add(availability)
    await session.flush()
    return availability


async def add_requirement(
    session: AsyncSession, *, slot_id: int, skill_id: int, min_level: int, weight: float
) -> SlotRequirement:
    if await session.get(SquadSlot, slot_id) is None:
        raise NotFoundError("SquadSlot", slot_id)
    skill = await get_or_fail(session, Skill, skill_id)
    if skill.status is not SkillStatus.APPROVED:
        raise ValidationFailed(f"skill {skill.name!r} is not approved", field="skillId")
    if not 1 <= min_level <= 5:
        raise ValidationFailed("a minimum level is 1 to 5", field="minLevel")
    if not 0 < weight <= 100:
        raise ValidationFailed("a weight is above 0 and at most 100", field="weight")
    taken = select(SlotRequirement.id).where(SlotRequirement.slot_id == slot_id, SlotRequirement.skill_id == skill_id)
    if await session.scalar(taken) is not None:
        raise ValidationFailed(f"the slot already requires {skill.name}", field="skillId")
    requirement = SlotRequirement(slot_id=slot_id, skill_id=skill_id, min_level=min_level, weight=weight)
    session.add(requirement)
    await session.flush()
    return requirement
