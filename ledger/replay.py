"""Full verification of the log: every entry's digest, leaf, chain link (and signature), the stored tree,
and every checkpoint with the consistency proof it stores, replayed from the first entry. The first thing that
does not match is named.

Each check compares something recomputed with what is stored next to it: the digest with the stored digest,
the leaf with the stored leaf hash, the chain link with the previous entry's stored chain hash, a tree node with
the node a checkpoint stored. So the checks of one entry do not wait for the verdict on the one before it, and
the first mismatch is the smallest (entry, check) pair found, in whatever order the checks ran. That is what
lets the replay go fast on a large log:

- it reads the next batch of entries, and the tree nodes they complete, while it checks the current one;
- worker processes hash leaves and chain links, decode payloads, recompute their digests and recover
  signatures, while this process grows the tree and compares it with the stored one;
- a batch is compared as a whole where it can (lists of hashes compare in C), entry by entry only to name the
  first difference; payload digests go through an encoder specialised to the entry types, which hands anything
  unusual to :func:`cellorg.ledger.typed_data.digest` for the verdict and its reason.
"""

import asyncio
import gc
import json
import multiprocessing
import os
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import repeat
from typing import Any, NamedTuple, Protocol

from sha3 import keccak_256  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.ledger import merkle
from cellorg.ledger.models import Checkpoint, LedgerEntry, LedgerNode
from cellorg.ledger.service import AUTHOR_FIELD, GENESIS_CHAIN_HASH, HASHER, LedgerKeys, checkpoint_message
from cellorg.ledger.signatures import SignatureError, recover_signer
from cellorg.ledger.typed_data import ENTRY_TYPES, TYPES, Domain, TypedDataError, digest, encode_type

BATCH = 16_384
PARALLEL_FROM = BATCH  # entries: a log that fits in one batch is checked in this process, in a second or two
# Workers are forked where fork is dependable (Linux): they run pure functions on the lists they are sent and never
# touch what they inherit (event loop, connections), and a spawned worker would spend ~2 s CPU importing this module.
_START_METHOD = "fork" if sys.platform == "linux" else "spawn"


# keccak256 as hashing.keccak256 computes it, minus the Python call eth-hash wraps around the C function: a
# third of the cost of hashing a leaf or a chain link, and the replay hashes each entry ten times or more.
_keccak: Callable[[bytes], merkle.HashObject] = keccak_256
_EMPTY_ARRAY_HASH = _keccak(b"").digest()

# The columns of ledger_entries each part of the replay reads.
_LINK_COLUMNS = ("seq", "digest", "signature", "leaf_hash", "chain_hash")
_SIGNER_COLUMNS = ("signer", "signed_by_service")
_PAYLOAD_COLUMNS = ("entry_type", "project_id", "author_id", "contribution_kind", "points", "amends", "payload")
# An entry as the content checks see it (a column not read is None).
_CONTENT_ROW = ("digest", "signature", *_SIGNER_COLUMNS, *_PAYLOAD_COLUMNS)
DIGEST, SIGNATURE, SIGNER, BY_SERVICE, ENTRY_TYPE, PROJECT, AUTHOR, KIND, POINTS, AMENDS, PAYLOAD = range(11)
_SIGNED_COLUMNS = _PAYLOAD_COLUMNS[1:6]  # the columns PROJECT .. AMENDS, which repeat fields of the payload
_Row = Sequence[Any]
_Columns = Mapping[str, list[Any]]


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


class _Check(IntEnum):
    """The checks of one entry, in the order the replay names them."""

    MISSING = 0
    PAYLOAD = 1
    COLUMN = 2
    LEAF = 3
    CHECKPOINTED_LEAF = 4
    CHAIN = 5
    SIGNATURE = 6


class _Finding(NamedTuple):
    """A mismatch of one entry; the smallest (seq, check) is the one the replay reports."""

    seq: int
    check: int
    detail: str


@dataclass
class _State:
    size: int = 0  # entries in the tree: all their checks passed but the tree's
    border: dict[merkle.NodeKey, bytes] = field(default_factory=dict)
    verified: int = 0  # what the report counts: entries whose own checks passed


@dataclass(frozen=True, slots=True)
class _Batch:
    first_seq: int
    size: int
    columns: _Columns  # column name -> its values, in sequence order
    nodes: "_StoredNodes"  # those these entries complete (and maybe some beyond)


async def total_entries(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def replay(
    session: AsyncSession,
    keys: LedgerKeys,
    *,
    signatures: bool = False,
    progress: Callable[[int], None] | None = None,
    payloads: bool = True,
    workers: int | None = None,
) -> Report:
    """Replay the whole log and name the first entry, tree node or checkpoint that does not match.

    ``signatures`` recovers every signer too (~0.1 ms an entry). ``payloads=False`` skips decoding each payload
    and recomputing its digest: sequence, leaves, chain, tree and checkpoints are still checked from the stored
    digests and signatures, but a payload or a column next to it (type, project, author, kind, points, amends) edited
    in place goes unnoticed, since neither feeds the leaf hash. ``workers`` is the number of processes that
    check entries (leaves, links, payloads, signatures) while this one checks the tree; by default one per CPU
    when payloads or signatures are checked in a log of ``PARALLEL_FROM`` entries or more. 0 keeps all the work
    in this process.
    """
    checkpoints = list((await session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size))).all())
    reader = await _reader(session, payloads=payloads, signatures=signatures)
    if workers is None:
        workers = await _default_workers(session) if payloads or signatures else 0
    pool = None
    if workers:  # gc.freeze: a forked worker's collections then skip what it inherited, and leave those pages shared
        pool = ProcessPoolExecutor(workers, multiprocessing.get_context(_START_METHOD), initializer=gc.freeze)
    entries = _Entries(_EntryTask(keys.domain, keys.service.address, payloads, signatures), pool, workers)
    state = _State()
    try:
        await _verify(reader, entries, keys, checkpoints, state, progress)
        beyond = [c for c in checkpoints if c.tree_size > state.size]
        if beyond:
            raise Mismatch(state.size + 1, f"missing: checkpoint {beyond[0].tree_size} covers it, the log ends before")
    except Mismatch as mismatch:
        return Report(state.verified, len(checkpoints), mismatch)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return Report(state.size, len(checkpoints), None)


async def _default_workers(session: AsyncSession) -> int:
    """One per CPU on a log of more than a batch: decoding payloads and recovering signatures cost several times
    the rest of the replay, and spread over every CPU. (Leaves and links alone cost about as much to send to a
    worker as to hash there: a replay without payloads or signatures keeps them here.)"""
    cpus = os.cpu_count() or 1
    if cpus < 2:
        return 0
    size = await session.scalar(select(func.max(LedgerEntry.seq)))  # an index lookup, unlike count(*)
    return cpus if (size or 0) >= PARALLEL_FROM else 0


@dataclass(frozen=True, slots=True)
class _Checks:
    """A batch and the checks of its entries: already running on the workers, or to run here when awaited."""

    batch: _Batch
    previous_chain: bytes  # the stored chain hash of the entry before the batch
    running: "asyncio.Future[_Finding | None] | None"


async def _verify(
    reader: "_Reader",
    entries: "_Entries",
    keys: LedgerKeys,
    checkpoints: Sequence[Checkpoint],
    state: _State,
    progress: Callable[[int], None] | None,
) -> None:
    """Batch after batch; the next batch is read (and its entries checked on the workers) while this one settles."""

    async def read(first_seq: int, previous_chain: bytes) -> _Checks:
        return entries.start(await reader.batch(first_seq), previous_chain)

    checks = await read(1, GENESIS_CHAIN_HASH)
    while checks.batch.size:
        batch = checks.batch
        reading = asyncio.ensure_future(read(batch.first_seq + batch.size, batch.columns["chain_hash"][-1]))
        try:
            await asyncio.sleep(0)  # sends the query: the database works on it while this process hashes
            await _settle(entries, checks, keys, checkpoints, state)
        except BaseException:
            await _discard(reading)
            raise
        if progress is not None:
            progress(batch.size)
        checks = await reading


async def _discard(reading: "asyncio.Future[_Checks]") -> None:
    """Let the read in flight end (the session's connection must be idle when the replay returns); drop its checks."""
    done = (await asyncio.gather(reading, return_exceptions=True))[0]
    if isinstance(done, _Checks) and done.running is not None:
        done.running.cancel()
        await asyncio.gather(done.running, return_exceptions=True)


async def _settle(
    entries: "_Entries", checks: _Checks, keys: LedgerKeys, checkpoints: Sequence[Checkpoint], state: _State
) -> None:
    """The batch's entry checks, then part by part (cut where checkpoints end) its tree nodes and checkpoints."""
    batch = checks.batch
    found = [finding for finding in (_check_sequence(batch), await entries.first(checks)) if finding is not None]
    first = min(found) if found else None
    leaves = batch.columns["leaf_hash"]
    start = 0
    for end in _part_ends(batch, [c.tree_size for c in checkpoints]):
        if first is not None and first.seq < batch.first_seq + end:
            state.verified = first.seq - 1
            raise Mismatch(first.seq, first.detail)
        state.verified = batch.first_seq + end - 1
        _grow_and_compare(state, leaves[start:end], batch.nodes)
        for index, checkpoint in enumerate(checkpoints):
            if checkpoint.tree_size == state.size:
                _check_checkpoint(keys, checkpoint, state)
                _check_consistency(checkpoint, checkpoints[index - 1] if index else None)
        start = end


def _part_ends(batch: _Batch, sizes: list[int]) -> list[int]:
    """Cut the batch after each entry a checkpoint ends on, so each checkpoint sees its exact tree."""
    last = batch.first_seq + batch.size - 1
    cuts = sorted({size - batch.first_seq + 1 for size in sizes if batch.first_seq <= size <= last})
    return cuts if cuts and cuts[-1] == batch.size else [*cuts, batch.size]


# --- In this process: the sequence, the leaves checkpoints stored, the tree and the checkpoints ---------------------


def _check_sequence(batch: _Batch) -> _Finding | None:
    """The first entry out of sequence, or whose leaf hash is not the leaf a checkpoint stored at its position.

    The stored leaf hash stands for the recomputed leaf here: where the two differ, the leaf check names the same
    entry first.
    """
    first_seq, seqs, leaves = batch.first_seq, batch.columns["seq"], batch.columns["leaf_hash"]
    findings = []
    if seqs != list(range(first_seq, first_seq + batch.size)):
        gap = next(index for index, seq in enumerate(seqs) if seq != first_seq + index)
        findings.append(_Finding(first_seq + gap, _Check.MISSING, f"missing: the log goes on with entry {seqs[gap]}"))
        leaves = leaves[:gap]
    wrong = _first_difference(leaves, batch.nodes.aligned(0, first_seq - 1, leaves))
    if wrong is not None:
        detail = "it is not the entry a checkpoint covered at this position: the log was rewritten"
        findings.append(_Finding(first_seq + wrong, _Check.CHECKPOINTED_LEAF, detail))
    return min(findings) if findings else None


def _first_difference(computed: list[bytes], stored: list[bytes]) -> int | None:
    if computed == stored:  # the common case, compared in C
        return None
    return next(index for index, (mine, theirs) in enumerate(zip(computed, stored, strict=True)) if mine != theirs)


def _grow_and_compare(state: _State, leaves: list[bytes], stored: "_StoredNodes") -> None:
    """Recompute the tree's new nodes and compare them with those stored when checkpoints covered them.

    Level 0 is left out: the stored leaves were compared entry by entry.
    """
    levels = merkle.appended_levels(HASHER, state.size, leaves, state.border)
    for level, first, row in levels[1:]:
        wrong = _first_difference(row, stored.aligned(level, first, row))
        if wrong is not None:
            position = first + wrong
            raise Mismatch(
                (position << level) + 1, f"the log differs from the tree node ({level}, {position}) a checkpoint stored"
            )
    state.size += len(leaves)
    rows = {level: (first, row) for level, first, row in levels}
    state.border = {key: _node(key, rows, state.border) for key in merkle.root_keys(state.size)}


def _node(
    key: merkle.NodeKey, rows: Mapping[int, tuple[int, list[bytes]]], border: Mapping[merkle.NodeKey, bytes]
) -> bytes:
    level, position = key
    first, row = rows.get(level, (0, []))
    return row[position - first] if first <= position < first + len(row) else border[key]


class _StoredNodes:
    """The stored tree nodes a batch reads, level by level in position order."""

    def __init__(self, levels: list[int], positions: list[int], hashes: list[bytes]) -> None:
        keys = list(zip(levels, positions, strict=True))
        if keys != sorted(keys):  # the database sends them in order, but nothing here relies on that
            order = sorted(range(len(keys)), key=keys.__getitem__)
            levels, positions, hashes = (
                [levels[i] for i in order],
                [positions[i] for i in order],
                [hashes[i] for i in order],
            )
        self.levels: dict[int, tuple[list[int], list[bytes]]] = {}
        for level in dict.fromkeys(levels):
            start, end = bisect_left(levels, level), bisect_right(levels, level)
            self.levels[level] = (positions[start:end], hashes[start:end])

    def aligned(self, level: int, first: int, computed: list[bytes]) -> list[bytes]:
        """The stored nodes at positions first, first + 1, ... next to ``computed``, the computed node where none is
        stored: what ``computed`` must equal."""
        positions, hashes = self.levels.get(level, ([], []))
        start, end = bisect_left(positions, first), bisect_left(positions, first + len(computed))
        count = end - start
        if positions[start:end] == list(range(first, first + count)):  # all stored, or the first ones: in C
            return hashes[start:end] + computed[count:]
        stored = dict(zip(positions[start:end], hashes[start:end], strict=True))
        return [stored.get(position, node) for position, node in enumerate(computed, start=first)]


def _check_checkpoint(keys: LedgerKeys, checkpoint: Checkpoint, state: _State) -> None:
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


def _check_consistency(checkpoint: Checkpoint, previous: Checkpoint | None) -> None:
    """The stored proof that the checkpoint's tree extends the one before it: what auditors are shown."""
    name = f"checkpoint {checkpoint.tree_size}"
    expected = previous.tree_size if previous is not None else None
    if checkpoint.previous_size != expected:
        raise Mismatch(None, f"{name}: it follows checkpoint {checkpoint.previous_size}, not {expected}")
    proof = checkpoint.consistency_proof
    if previous is None:
        if proof:
            raise Mismatch(None, f"{name}: the first checkpoint carries a consistency proof")
        return
    try:
        merkle.verify_consistency(
            HASHER,
            previous.tree_size,
            checkpoint.tree_size,
            previous.root,
            checkpoint.root,
            [proof[start : start + 32] for start in range(0, len(proof), 32)],
        )
    except merkle.ProofError as error:
        raise Mismatch(None, f"{name}: its consistency proof from {previous.tree_size} fails: {error}") from error


# --- Per entry, in worker processes on a large log: leaves, chain links, payloads, columns, signatures ---------------


class _EntryTask(NamedTuple):
    domain: Domain
    service: str
    payloads: bool
    signatures: bool


class _Entries:
    """Checks each entry on its own, here or spread over worker processes."""

    def __init__(self, task: _EntryTask, pool: Executor | None, workers: int) -> None:
        self.task, self.pool, self.workers = task, pool, workers

    def start(self, batch: _Batch, previous_chain: bytes) -> _Checks:
        """Send the batch's entries to the workers, a slice each; without workers, they wait for :meth:`first`."""
        if self.pool is None or not batch.size:
            return _Checks(batch, previous_chain, None)
        loop = asyncio.get_running_loop()
        size = -(-batch.size // self.workers)
        chains = batch.columns["chain_hash"]
        parts = [
            loop.run_in_executor(
                self.pool,
                _check_entries,
                self.task,
                batch.first_seq + start,
                chains[start - 1] if start else previous_chain,
                {name: values[start : start + size] for name, values in batch.columns.items() if name != "seq"},
            )
            for start in range(0, batch.size, size)
        ]
        return _Checks(batch, previous_chain, asyncio.ensure_future(_first_of(parts)))

    async def first(self, checks: _Checks) -> _Finding | None:
        """The first finding among the batch's entries."""
        if checks.running is not None:
            return await checks.running
        return _check_entries(self.task, checks.batch.first_seq, checks.previous_chain, checks.batch.columns)


async def _first_of(parts: "list[asyncio.Future[_Finding | None]]") -> _Finding | None:
    found = [finding for finding in await asyncio.gather(*parts) if finding is not None]
    return min(found) if found else None


def _check_entries(task: _EntryTask, first_seq: int, previous_chain: bytes, columns: _Columns) -> _Finding | None:
    """The first finding among consecutive entries, numbered from ``first_seq`` (where the sequence has a gap,
    the gap is reported first)."""
    found = [_check_hashes(first_seq, previous_chain, columns), _check_contents(task, first_seq, columns)]
    findings = [finding for finding in found if finding is not None]
    return min(findings) if findings else None


def _check_hashes(first_seq: int, previous_chain: bytes, columns: _Columns) -> _Finding | None:
    leaves = _leaves(columns["digest"], columns["signature"])
    findings = []
    wrong = _first_difference(leaves, columns["leaf_hash"])
    if wrong is not None:
        detail = "its leaf hash is not keccak256(0x00 || digest || signature): the signature changed"
        findings.append(_Finding(first_seq + wrong, _Check.LEAF, detail))
    chains = columns["chain_hash"]
    wrong = _first_difference(_links([previous_chain, *chains][: len(chains)], leaves), chains)
    if wrong is not None:
        detail = f"its chain hash does not follow from entry {first_seq + wrong - 1}"
        findings.append(_Finding(first_seq + wrong, _Check.CHAIN, detail))
    return min(findings) if findings else None


def _leaves(digests: list[bytes], signatures: list[bytes]) -> list[bytes]:
    """HASHER.leaf(leaf_data(digest, signature)) of each entry, in C calls only (a test holds them equal)."""
    pairs = zip(digests, signatures, strict=True)
    return [_keccak(b"\x00" + entry_digest + signature).digest() for entry_digest, signature in pairs]


def _links(previous: list[bytes], leaves: list[bytes]) -> list[bytes]:
    """chain_hash(previous, leaf) of each entry, in C calls only (a test holds them equal)."""
    return [_keccak(link + leaf).digest() for link, leaf in zip(previous, leaves, strict=True)]


def _check_contents(task: _EntryTask, first_seq: int, columns: _Columns) -> _Finding | None:
    """The first entry whose payload, columns next to it or signature do not match."""
    if not (task.payloads or task.signatures):
        return None
    prefix = b"\x19\x01" + task.domain.separator
    absent = repeat(None)  # for the columns not read; digest and signature end the rows
    rows = zip(*(columns.get(name, absent) for name in _CONTENT_ROW), strict=False)
    for seq, row in enumerate(rows, start=first_seq):
        finding = _check_payload(task.domain, prefix, seq, row) if task.payloads else None
        if finding is None and task.signatures:
            finding = _check_signer(task.service, seq, row)
        if finding is not None:
            return finding
    return None


def _check_payload(domain: Domain, prefix: bytes, seq: int, row: _Row) -> _Finding | None:
    entry_type = row[ENTRY_TYPE]
    if entry_type not in ENTRY_TYPES:  # a checkpoint's signed message, say, is no entry
        return _Finding(seq, _Check.PAYLOAD, f"{entry_type} is not an entry type ({', '.join(ENTRY_TYPES)})")
    try:
        message = json.loads(row[PAYLOAD])
        recomputed = _digest(domain, prefix, entry_type, message)
    except (ValueError, KeyError, TypeError, TypedDataError) as error:
        return _Finding(seq, _Check.PAYLOAD, f"its payload is not a valid {entry_type}: {error}")
    if recomputed != row[DIGEST]:
        return _Finding(seq, _Check.PAYLOAD, "its payload does not match its signed digest")
    # What the service writes next to the payload (a field the type lacks leaves its column NULL).
    signed = (
        message["projectId"],
        message[AUTHOR_FIELD[entry_type]],
        message.get("kind"),
        message.get("points"),
        message["amends"] or None,
    )
    stored = row[PROJECT : AMENDS + 1]
    if stored != signed:
        column = next(
            name for name, mine, theirs in zip(_SIGNED_COLUMNS, stored, signed, strict=True) if mine != theirs
        )
        return _Finding(seq, _Check.COLUMN, f"its {column} column differs from the signed payload")
    return None


def _check_signer(service: str, seq: int, row: _Row) -> _Finding | None:
    recorded = row[SIGNER]
    try:
        signer = recover_signer(row[DIGEST], row[SIGNATURE])
    except SignatureError as error:
        return _Finding(seq, _Check.SIGNATURE, f"its signature is invalid: {error}")
    if signer != recorded:
        detail = f"its signature was made by {signer}, not by the recorded signer {recorded}"
        return _Finding(seq, _Check.SIGNATURE, detail)
    if row[BY_SERVICE] and signer != service:
        detail = f"it claims the service's signature but {signer} is not the service key"
        return _Finding(seq, _Check.SIGNATURE, detail)
    return None


# --- EIP-712 digests of entries, specialised -----------------------------------------------------------------------


class _Unusual(Exception):
    """The value is not in the shape the ledger writes: the reference encoder decides."""


_Encoder = Callable[[Any], bytes]


def _digest(domain: Domain, prefix: bytes, entry_type: str, message: Any) -> bytes:
    """typed_data.digest(domain, entry_type, message), several times faster on messages as the ledger writes them."""
    try:
        struct = _ENCODERS[entry_type](message)
    except Exception:  # anything unusual (a float, a bool, a stray field, a lone surrogate): the reference decides
        return digest(domain, entry_type, message)
    return _keccak(prefix + struct).digest()


def _struct_encoder(name: str) -> _Encoder:
    """hashStruct for ``name``, accepting only a dict with exactly its fields, each of its exact JSON type."""
    fields = [(field_name, _value_encoder(kind)) for field_name, kind in TYPES[name]]
    names = {field_name for field_name, _kind in fields}
    type_hash = _keccak(encode_type(name).encode()).digest()

    def encode(message: Any) -> bytes:
        if type(message) is not dict or message.keys() != names:
            raise _Unusual
        return _keccak(type_hash + b"".join([encode_value(message[name]) for name, encode_value in fields])).digest()

    return encode


def _value_encoder(kind: str) -> _Encoder:
    if kind.endswith("[]"):
        return _array_encoder(_value_encoder(kind[:-2]))
    if kind in TYPES:
        return _struct_encoder(kind)
    if kind == "string":
        return _string
    if kind == "bytes32":
        return _bytes32
    if kind.startswith("uint"):
        return _uint_encoder(1 << int(kind[4:]))
    return _unusual


def _array_encoder(encode_item: _Encoder) -> _Encoder:
    def encode(value: Any) -> bytes:
        if type(value) is not list:
            raise _Unusual
        return _keccak(b"".join([encode_item(item) for item in value])).digest() if value else _EMPTY_ARRAY_HASH

    return encode


def _uint_encoder(limit: int) -> _Encoder:
    def encode(value: Any) -> bytes:
        if type(value) is not int or not 0 <= value < limit:
            raise _Unusual
        return value.to_bytes(32, "big")

    return encode


def _string(value: Any) -> bytes:
    if type(value) is not str:
        raise _Unusual
    return _keccak(value.encode()).digest()


def _bytes32(value: Any) -> bytes:
    if type(value) is not str or len(value) != 66 or not value.startswith("0x"):
        raise _Unusual
    encoded = bytes.fromhex(value[2:])
    if len(encoded) != 32:  # fromhex skips whitespace
        raise _Unusual
    return encoded


def _unusual(_value: Any) -> bytes:
    raise _Unusual


_ENCODERS = {name: _struct_encoder(name) for name in ENTRY_TYPES}


# --- Reading: raw asyncpg on PostgreSQL (SQLAlchemy rows cost more than the hashing), SQLAlchemy elsewhere ----------


class _Reader(Protocol):
    async def batch(self, first_seq: int) -> _Batch: ...


async def _reader(session: AsyncSession, *, payloads: bool, signatures: bool) -> _Reader:
    columns = [*_LINK_COLUMNS, *(_SIGNER_COLUMNS if signatures else ()), *(_PAYLOAD_COLUMNS if payloads else ())]
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        connection = await (await session.connection()).get_raw_connection()
        return _PostgresReader(connection.driver_connection, columns)
    return _SqlReader(session, columns)


def _node_ranges(first_seq: int, count: int) -> list[tuple[int, int, int]]:
    """(level, first, last position) of the nodes that entries first_seq .. first_seq + count - 1 complete."""
    start, end = first_seq - 1, first_seq - 1 + count
    return [
        (level, start >> level, (end >> level) - 1)
        for level in range(end.bit_length())
        if end >> level > start >> level
    ]


class _PostgresReader:
    """A batch in one statement and one row: a column of entries or of nodes is an array. PostgreSQL aggregates
    on its own core what would cost this process more to decode row by row, and a single statement lets the whole
    read of the next batch run while this process hashes. The arrays follow the subquery's order, usually: the
    replay checks that sequence numbers come in order, so another order would be reported, never overlooked.
    The nodes are those of a full batch: more than a short last batch needs, which is harmless."""

    def __init__(self, connection: Any, columns: Sequence[str]) -> None:
        self.connection = connection  # asyncpg's, inside the session's transaction
        self.names = tuple(columns)
        arrays = ", ".join(f"array_agg({name})" for name in columns)
        self.query = (  # the names are the constants above
            f"SELECT * FROM (SELECT count(*), {arrays} FROM (SELECT {', '.join(columns)} FROM ledger_entries "  # noqa: S608
            "WHERE seq >= $1 ORDER BY seq LIMIT $2) AS batch) AS entries, "
            "(SELECT array_agg(r.level), array_agg(n.position), array_agg(n.hash) "
            "FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS r(level, first, last), LATERAL "
            "(SELECT position, hash FROM ledger_nodes WHERE level = r.level AND position BETWEEN r.first AND r.last "
            "ORDER BY position OFFSET 0) AS n) AS nodes"  # OFFSET 0: a range scan per level, not a join over the table
        )

    async def batch(self, first_seq: int) -> _Batch:
        levels, firsts, lasts = zip(*_node_ranges(first_seq, BATCH), strict=True)
        count, *arrays, node_levels, positions, hashes = await self.connection.fetchrow(
            self.query, first_seq, BATCH, levels, firsts, lasts
        )
        columns = dict(zip(self.names, arrays if count else ([],) * len(arrays), strict=True))
        nodes = _StoredNodes(node_levels or [], positions or [], hashes or [])
        return _Batch(first_seq, count, columns, nodes)


class _SqlReader:
    def __init__(self, session: AsyncSession, columns: Sequence[str]) -> None:
        self.session = session
        self.names = tuple(columns)

    async def batch(self, first_seq: int) -> _Batch:
        selected = [getattr(LedgerEntry, name) for name in self.names]
        query = select(*selected).where(LedgerEntry.seq >= first_seq).order_by(LedgerEntry.seq).limit(BATCH)
        rows = (await self.session.execute(query)).all()
        levels: list[int] = []
        positions: list[int] = []
        hashes: list[bytes] = []
        for level, first, last in _node_ranges(first_seq, len(rows)):
            query = select(LedgerNode.position, LedgerNode.hash).where(
                LedgerNode.level == level, LedgerNode.position.between(first, last)
            )
            for position, node in (await self.session.execute(query.order_by(LedgerNode.position))).all():
                levels.append(level)
                positions.append(position)
                hashes.append(node)
        columns = {name: [row[index] for row in rows] for index, name in enumerate(self.names)}
        return _Batch(first_seq, len(rows), columns, _StoredNodes(levels, positions, hashes))
