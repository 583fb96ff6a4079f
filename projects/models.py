from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"
    ARCHIVED = "archived"


class Outcome(StrEnum):
    WON = "won"
    LOST = "lost"
    CANCELLED = "cancelled"


def _enum(kind: type[StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda members: [m.value for m in members])


class Project(Base):
    """A deal squad's project: it forms, works, and dissolves at its end."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index(None, "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    customer_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    product_line_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[ProjectStatus] = mapped_column(_enum(ProjectStatus))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    activated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    @property
    def is_open(self) -> bool:
        return self.status in (ProjectStatus.DRAFT, ProjectStatus.ACTIVE)


class SquadSlot(Base):
    """A place in the squad: a title, the project role it carries, how many people and how much of them."""

    __tablename__ = "squad_slots"
    __table_args__ = (
        CheckConstraint("headcount >= 1", name="headcount_positive"),
        CheckConstraint("allocation_pct BETWEEN 1 AND 100", name="allocation_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    headcount: Mapped[int]
    allocation_pct: Mapped[int]


class SquadMember(Base):
    """A person in a slot over [joined_at, left_at); a role change closes the row and opens another."""

    __tablename__ = "squad_members"
    __table_args__ = (
        CheckConstraint("allocation_pct BETWEEN 1 AND 100", name="allocation_in_range"),
        Index(None, "person_id", "left_at"),
        Index(None, "project_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("squad_slots.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(32))
    allocation_pct: Mapped[int]
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class Objective(Base):
    __tablename__ = "objectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class KeyResult(Base):
    """A measurable result: progress is current / target, capped at 100%."""

    __tablename__ = "key_results"
    __table_args__ = (CheckConstraint("target > 0", name="target_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    target: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    current: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    @property
    def progress(self) -> Decimal:
        return min(self.current / self.target, Decimal(1)).quantize(Decimal("0.0001"))


class ObjectiveAlignment(Base):
    """A horizontal link between objectives of two projects, read from both sides."""

    __tablename__ = "objective_alignments"
    __table_args__ = (
        UniqueConstraint("objective_id", "aligned_objective_id"),
        CheckConstraint("objective_id <> aligned_objective_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"), index=True)
    aligned_objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"), index=True)
    created_at: Mapped[datetime]


class ProjectArchive(Base):
    """What a closed project leaves behind, written once at its close; the database refuses changes."""

    __tablename__ = "project_archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), unique=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
