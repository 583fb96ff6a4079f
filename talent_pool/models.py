from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base


class SkillStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


class Skill(Base):
    """A tag of the taxonomy (Robotics > PLC programming); members propose, admins approve."""

    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    normalized_name: Mapped[str] = mapped_column(String(120), unique=True)
    category: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("skills.id"), index=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[SkillStatus] = mapped_column(
        Enum(SkillStatus, native_enum=False, length=16, values_callable=lambda kinds: [k.value for k in kinds])
    )
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]


class SkillClaim(Base):
    """A member's level (1-5) in a skill with evidence; a new level supersedes the claim, which stays."""

    __tablename__ = "skill_claims"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 5", name="level_in_range"),
        Index(None, "skill_id", "superseded_at", "level"),
        Index(None, "person_id", "superseded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id"))
    level: Mapped[int]
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    claimed_at: Mapped[datetime]
    evidence_at: Mapped[datetime]
    superseded_at: Mapped[datetime | None]


class Endorsement(Base):
    """A colleague vouching for a claim; one who shared a squad with the claimant counts for less."""

    __tablename__ = "endorsements"
    __table_args__ = (UniqueConstraint("claim_id", "endorser_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("skill_claims.id"), index=True)
    endorser_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    shared_squad: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class Availability(Base):
    """How much of a person is available over [starts_on, ends_on]."""

    __tablename__ = "availability"
    __table_args__ = (
        CheckConstraint("capacity_pct BETWEEN 0 AND 100", name="capacity_in_range"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        Index(None, "person_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    capacity_pct: Mapped[int]


class SlotRequirement(Base):
    """A skill a squad slot needs, at a minimum level, weighted against the slot's other needs."""

    __tablename__ = "slot_requirements"
    __table_args__ = (
        UniqueConstraint("slot_id", "skill_id"),
        CheckConstraint("min_level BETWEEN 1 AND 5", name="min_level_in_range"),
        CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("squad_slots.id"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id"))
    min_level: Mapped[int]
    weight: Mapped[float]
