from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
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
