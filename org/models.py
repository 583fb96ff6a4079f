from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base

# Paths compare byte-wise so a range scan finds a subtree; PostgreSQL's locale collation would not.
PathString = String(1024).with_variant(String(1024, collation="C"), "postgresql")


def ids_on_path(path: str) -> list[int]:
    """The unit ids of a materialized path ("/1/7/" -> [1, 7]), root first."""
    return [int(part) for part in path.strip("/").split("/") if part]


class MembershipKind(StrEnum):
    HOME = "home"
    MATRIX = "matrix"


class Dimension(Base):
    """An axis the organisation is cut along: region, function, product line, customer, or custom."""

    __tablename__ = "dimensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class Unit(Base):
    """A node of one dimension's tree.

    ``path`` is the materialized path of the unit's ancestors ("/1/7/"): the subtree of a unit is every
    unit whose path starts with ``subtree_prefix``, one index range scan.
    """

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("dimension_id", "parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dimension_id: Mapped[int] = mapped_column(ForeignKey("dimensions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(PathString, index=True)
    created_at: Mapped[datetime]

    @property
    def subtree_prefix(self) -> str:
        return f"{self.path}{self.id}/"  # keep in step with repository.subtree_prefix

    @property
    def ancestor_ids(self) -> list[int]:
        return ids_on_path(self.path)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    eth_address: Mapped[str | None] = mapped_column(String(42), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Membership(Base):
    """A person in a unit over [since, until): one home membership at a time, any number of matrix ones."""

    __tablename__ = "memberships"
    __table_args__ = (
        Index(None, "person_id", "kind", "until"),
        Index(None, "unit_id", "until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[MembershipKind] = mapped_column(
        Enum(MembershipKind, native_enum=False, length=16, values_callable=lambda kinds: [k.value for k in kinds])
    )
    since: Mapped[datetime]
    until: Mapped[datetime | None]
