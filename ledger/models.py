"""The ledger's tables. Every one is append-only: the database refuses UPDATE and DELETE (see migration 0005).

``ledger_entries`` is the log (seq 1, 2, ...: leaf index seq - 1). Next to the signed payload it keeps the
columns the API filters and finance sums on (project, author, points, kind); the replay checks that they
equal the payload, so they cannot drift from what was signed. ``ledger_nodes`` holds every complete
perfect subtree of the Merkle tree (the leaves included), so that roots and proofs take O(log n) reads.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, LargeBinary, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index(None, "project_id", "entry_type", "seq"),
        # a bonus statement sums a project's contributions per author and kind from this index alone, in order
        Index(
            "ix_ledger_entries_contributions",
            "project_id",
            "entry_type",
            "author_id",
            "contribution_kind",
            "seq",
            postgresql_include=["points"],
        ),
        # the few amendments, found without a scan: a bonus statement leaves out what they amend
        Index(
            "ix_ledger_entries_amends",
            "amends",
            postgresql_where=text("amends IS NOT NULL"),
            sqlite_where=text("amends IS NOT NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_type: Mapped[str] = mapped_column(String(32))  # the EIP-712 primary type
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    contribution_kind: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[int | None]
    amends: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ledger_entries.seq"))
    payload: Mapped[str] = mapped_column(Text)  # the EIP-712 message, canonical JSON
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # a signed entry is recorded once
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    signer: Mapped[str] = mapped_column(String(42))
    signed_by_service: Mapped[bool] = mapped_column(Boolean)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    recorded_at: Mapped[datetime]


class LedgerNode(Base):
    """The hash of leaves [position * 2**level, (position + 1) * 2**level), once all of them exist.

    Level 0 repeats the entries' leaf hashes as they were when a checkpoint covered them, so a log
    rewritten after that is caught at its first changed entry.
    """

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    """A signed tree head, proven consistent with the previous one."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    signer: Mapped[str] = mapped_column(String(42))
    previous_size: Mapped[int | None] = mapped_column(BigInteger)
    consistency_proof: Mapped[bytes] = mapped_column(LargeBinary)  # 32-byte hashes, concatenated


class CheckpointAnchor(Base):
    """Where a checkpoint was published on chain (a separate row: checkpoints are never updated)."""

    __tablename__ = "ledger_anchors"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("ledger_checkpoints.id"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    transaction_hash: Mapped[str] = mapped_column(String(66), unique=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    sender: Mapped[str] = mapped_column(String(42))
    anchored_at: Mapped[datetime]
