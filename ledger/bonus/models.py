"""Bonus rounds, their policies and statements. Policies, rounds, statements and approvals are append-only
(migration 0006): a changed policy is a new version, a changed pool a new named round.

Amounts are whole minor units of the currency (cents) in integers, exact on PostgreSQL and SQLite alike.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base


class BonusPolicy(Base):
    """How a pool is split: kind weights, role multipliers, cap, floor, peer round, exclusions."""

    __tablename__ = "bonus_policies"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int]
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]


class BonusRound(Base):
    """A project's bonus pool: the final round after it closes, or a named interim one."""

    __tablename__ = "bonus_rounds"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    policy_id: Mapped[int] = mapped_column(ForeignKey("bonus_policies.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]


class PeerAllocation(Base):
    """Points one squad member gives another in a round's peer allocation."""

    __tablename__ = "bonus_peer_allocations"

    round_id: Mapped[int] = mapped_column(ForeignKey("bonus_rounds.id"), primary_key=True)
    giver_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    points: Mapped[int]
    given_at: Mapped[datetime]


class BonusStatement(Base):
    """A round computed at a ledger checkpoint; the same inputs give the same hash and one row."""

    __tablename__ = "bonus_statements"
    __table_args__ = (UniqueConstraint("round_id", "statement_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("bonus_rounds.id"), index=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    statement_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    computed_at: Mapped[datetime]


class BonusApproval(Base):
    """The second finance user's approval, and the ledger entry that records the approved statement."""

    __tablename__ = "bonus_approvals"

    statement_id: Mapped[int] = mapped_column(ForeignKey("bonus_statements.id"), primary_key=True)
    approved_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    approved_at: Mapped[datetime]
    ledger_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.seq"), unique=True)
