"""Full verification of the log: every entry's digest, leaf, chain link (and signature), the stored tree,
and every checkpoint, replayed from the first entry. The first thing that does not match is named.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.ledger import merkle
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.models import Checkpoint, LedgerEntry, LedgerNode
from cellorg.ledger.service import GENESIS_CHAIN_HASH, HASHER, LedgerKeys, checkpoint_message, leaf_data
from cellorg.ledger.signatures import SignatureError, recover_signer
from cellorg.ledger.typed_data import TypedDataError, digest

BATCH = 8192
_COLUMNS_OF_PAYLOAD = {
    "project_id": "projectId",
    "author_id": "contributorId",
    "contribution_kind": "kind",
    "points": "points",
}
_AUTHOR_OF_DECISION = "decidedById"


class Mismatch(Exception):
    """The first thing in the log that does not match; raised to stop the replay there."""

    def __init__(self, seq: int | None, detail: str) -> None:
        super().__init__(f"entry {seq}: {detail}" if seq is not None else detail)
        self.seq = seq
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Report:
    entries: int
    checkpoints: int
    first_mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None


@dataclass
class _State:
    expected_seq: int = 1
    chain: bytes = GENESIS_CHAIN_HASH
    size: int = 0
    border: dict[merkle.NodeKey, bytes] | None = None


async def total_entries(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def replay(
    session: AsyncSession,
    keys: LedgerKeys,
    *,
    signatures: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Replay the whole log; ``signatures`` recovers every signer too (~0.1 ms an entry)."""
    checkpoints = list((await session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size))).all())
    state = _State(border={})
    try:
        while True:
            rows = await _batch(session, state.expected_seq)
            if not rows:
                break
            stored_leaves = await _stored_leaves(session, rows[0].seq, rows[-1].seq)
            for part in _split_at(rows, [c.tree_size for c in checkpoints]):
                for row in part:
                    _check_entry(keys, state, row, stored_leaves.get(row.seq - 1), signatures=signatures)
                await _grow_and_compare(session, state, [row.leaf_hash for row in part])
                for checkpoint in checkpoints:
                    if checkpoint.tree_size == state.size:
                        _check_checkpoint(keys, checkpoint, state)
            if progress is not None:
                progress(len(rows))
        beyond = [c for c in checkpoints if c.tree_size > state.size]
        if beyond:
            raise Mismatch(state.size + 1, f"missing: checkpoint {beyond[0].tree_size} covers it, the log ends before")
    except Mismatch as mismatch:
        return Report(state.expected_seq - 1, len(checkpoints), mismatch)
    return Report(state.size, len(checkpoints), None)


async def _batch(session: AsyncSession, first_seq: int) -> Sequence[Any]:
    query = (
        select(
            LedgerEntry.seq,
            LedgerEntry.entry_type,
            LedgerEntry.project_id,
            LedgerEntry.author_id,
            LedgerEntry.contribution_kind,
            LedgerEntry.points,
            LedgerEntry.payload,
            LedgerEntry.digest,
            LedgerEntry.signature,
            LedgerEntry.signer,
            LedgerEntry.signed_by_service,
            LedgerEntry.leaf_hash,
            LedgerEntry.chain_hash,
        )
        .where(LedgerEntry.seq >= first_seq)
        .order_by(LedgerEntry.seq)
        .limit(BATCH)
    )
    return (await session.execute(query)).all()


def _split_at(rows: Sequence[Row[Any]], sizes: list[int]) -> list[Sequence[Row[Any]]]:
    """Cut the batch after each entry a checkpoint ends on, so each checkpoint sees its exact tree."""
    parts, start = [], 0
    for index, row in enumerate(rows):
        if row.seq in sizes:
            parts.append(rows[start : index + 1])
            start = index + 1
    if start < len(rows):
        parts.append(rows[start:])
    return parts


async def _stored_leaves(session: AsyncSession, first_seq: int, last_seq: int) -> dict[int, bytes]:
    query = select(LedgerNode.position, LedgerNode.hash).where(
        LedgerNode.level == 0, LedgerNode.position.between(first_seq - 1, last_seq - 1)
    )
    return {int(position): bytes(leaf) for position, leaf in (await session.execute(query)).all()}


def _check_entry(
    keys: LedgerKeys, state: _State, row: Row[Any], checkpointed_leaf: bytes | None, *, signatures: bool
) -> None:
    seq = row.seq
    if seq != state.expected_seq:
        raise Mismatch(state.expected_seq, f"missing: the log goes on with entry {seq}")
    try:
        payload = json.loads(row.payload)
        recomputed = digest(keys.domain, row.entry_type, payload)
    except (ValueError, KeyError, TypedDataError) as error:
        raise Mismatch(seq, f"its payload is not a valid {row.entry_type}: {error}") from error
    if recomputed != row.digest:
        raise Mismatch(seq, "its payload does not match its signed digest")
    if _AUTHOR_OF_DECISION in payload and row.author_id != payload[_AUTHOR_OF_DECISION]:
        raise Mismatch(seq, "its author_id column differs from the signed payload")
    for column, field in _COLUMNS_OF_PAYLOAD.items():
        if field in payload and getattr(row, column) != payload[field]:
            raise Mismatch(seq, f"its {column} column differs from the signed payload")
    leaf = HASHER.leaf(leaf_data(row.digest, row.signature))
    if leaf != row.leaf_hash:
        raise Mismatch(seq, "its leaf hash is not keccak256(0x00 || digest || signature): the signature changed")
    if checkpointed_leaf is not None and checkpointed_leaf != leaf:
        raise Mismatch(seq, "it is not the entry a checkpoint covered at this position: the log was rewritten")
    if keccak256(state.chain + leaf) != row.chain_hash:
        raise Mismatch(seq, f"its chain hash does not follow from entry {seq - 1}")
    if signatures:
        _check_signer(keys, row)
    state.chain, state.expected_seq = row.chain_hash, seq + 1


def _check_signer(keys: LedgerKeys, row: Row[Any]) -> None:
    try:
        signer = recover_signer(row.digest, row.signature)
    except SignatureError as error:
        raise Mismatch(row.seq, f"its signature is invalid: {error}") from error
    if signer != row.signer:
        raise Mismatch(row.seq, f"its signature was made by {signer}, not by the recorded signer {row.signer}")
    if row.signed_by_service and signer != keys.service.address:
        raise Mismatch(row.seq, f"it claims the service's signature but {signer} is not the service key")


async def _grow_and_compare(session: AsyncSession, state: _State, leaves: list[bytes]) -> None:
    """Recompute the tree's new nodes and compare them with those stored when checkpoints covered them."""
    assert state.border is not None
    created = merkle.appended_nodes(HASHER, state.size, leaves, state.border)
    stored = await _stored_nodes(session, created)
    for key in sorted(created):  # leaves first: a changed leaf names its entry exactly
        if key in stored and stored[key] != created[key]:
            level, position = key
            raise Mismatch(
                (position << level) + 1, f"the log differs from the tree node ({level}, {position}) a checkpoint stored"
            )
    state.size += len(leaves)
    nodes = state.border | created
    state.border = {key: nodes[key] for key in merkle.root_keys(state.size)}


async def _stored_nodes(session: AsyncSession, created: dict[merkle.NodeKey, bytes]) -> dict[merkle.NodeKey, bytes]:
    by_level: dict[int, list[int]] = {}
    for level, position in created:
        by_level.setdefault(level, []).append(position)
    found: dict[merkle.NodeKey, bytes] = {}
    for level, positions in by_level.items():
        query = select(LedgerNode.position, LedgerNode.hash).where(
            LedgerNode.level == level, LedgerNode.position.between(min(positions), max(positions))
        )
        found.update(((level, position), node) for position, node in (await session.execute(query)).all())
    return found


def _check_checkpoint(keys: LedgerKeys, checkpoint: Checkpoint, state: _State) -> None:
    assert state.border is not None
    root = merkle.root(HASHER, state.size, state.border)
    if root != checkpoint.root:
        raise Mismatch(None, f"checkpoint {checkpoint.tree_size}: its root is not the root of the log at that size")
    message = checkpoint_message(checkpoint.tree_size, checkpoint.root, checkpoint.created_at)
    try:
        signer = recover_signer(digest(keys.domain, "Checkpoint", message), checkpoint.signature)
    except SignatureError as error:
        raise Mismatch(None, f"checkpoint {checkpoint.tree_size}: {error}") from error
    if signer != keys.service.address:
        raise Mismatch(None, f"checkpoint {checkpoint.tree_size}: signed by {signer}, not by the service key")
