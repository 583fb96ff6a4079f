"""Recording entries on the ledger, growing its Merkle tree, and publishing checkpoints.

An append takes the ledger lock (a transaction-scoped advisory lock on PostgreSQL; SQLite has a single
writer), reads the head, and inserts the entry with the next sequence number and its chain hash: the
sequence stays gap-free under concurrent writers and there is one head. The Merkle nodes are added when
a checkpoint is published, for every entry since the previous one, in one batch.
"""

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Executable, Row, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.errors import DomainError, NotFoundError, ValidationFailed
from cellorg.core.jobs import enqueue
from cellorg.core.settings import Settings, get_settings
from cellorg.ledger import chain, merkle
from cellorg.ledger.bundle import build_bundle
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.models import Checkpoint, CheckpointAnchor, LedgerEntry, LedgerNode
from cellorg.ledger.signatures import SignatureError, recover_signer, sign_digest
from cellorg.ledger.typed_data import (
    ENTRY_TYPES,
    PERSONAL_TYPES,
    Domain,
    TypedDataError,
    canonical_json,
    digest,
    signing_digest,
    struct_hash,
)
from cellorg.org.models import Person
from cellorg.projects.models import Project
from cellorg.talent_pool.models import Skill, SkillClaim, SkillStatus

LEDGER_LOCK_KEY = 0x63656C6C6F7267  # "cellorg"
GENESIS_CHAIN_HASH = bytes(32)
CONTRIBUTION_KINDS = ("deliverable", "design", "review", "customer meeting", "analysis", "coordination")
MAX_POINTS = 100
MAX_TEXT = 2000
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
AUTHOR_FIELD = {"Contribution": "contributorId", "Decision": "decidedById", "BonusStatement": "approvedById"}
MOMENT_FIELD = {"Contribution": "occurredAt", "Decision": "decidedAt", "BonusStatement": "approvedAt"}
HASHER = merkle.KECCAK256


@dataclass(frozen=True)
class LedgerKeys:
    """The EIP-712 domain entries are signed in, and the service's key."""

    domain: Domain
    service: LocalAccount

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "LedgerKeys":
        settings = settings or get_settings()
        return _ledger_keys(
            settings.service_key.get_secret_value(), settings.ledger_chain_id, settings.ledger_verifying_contract
        )


@cache  # deriving the account costs a key derivation: once per deployment, not per request or per row
def _ledger_keys(service_key: str, chain_id: int, verifying_contract: str) -> LedgerKeys:
    return LedgerKeys(Domain("cellorg ledger", "1", chain_id, verifying_contract), Account.from_key(service_key))


def new_nonce() -> str:
    return "0x" + secrets.token_hex(32)


def contribution_message(
    *,
    project_id: int,
    contributor_id: int,
    kind: str,
    title: str,
    points: int,
    occurred_at: datetime,
    skills: Sequence[str] = (),
    evidence: Sequence[tuple[str, str]] = (),
    amends: int | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The EIP-712 message of a contribution (evidence as (uri, 0x-prefixed content hash) pairs)."""
    return {
        "projectId": project_id,
        "contributorId": contributor_id,
        "kind": kind,
        "title": title,
        "points": points,
        "skills": list(skills),
        "evidence": [{"uri": uri, "contentHash": content_hash} for uri, content_hash in evidence],
        "occurredAt": int(occurred_at.timestamp()),
        "amends": amends or 0,
        "nonce": nonce or new_nonce(),
    }


def decision_message(
    *,
    project_id: int,
    decided_by_id: int,
    title: str,
    rationale: str,
    alternatives: Sequence[str],
    decided_at: datetime,
    amends: int | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    return {
        "projectId": project_id,
        "decidedById": decided_by_id,
        "title": title,
        "rationale": rationale,
        "alternatives": list(alternatives),
        "decidedAt": int(decided_at.timestamp()),
        "amends": amends or 0,
        "nonce": nonce or new_nonce(),
    }


def leaf_data(entry_digest: bytes, signature: bytes) -> bytes:
    """What the Merkle leaf commits to: leaf = keccak256(0x00 || digest || signature)."""
    return entry_digest + signature


def chain_hash(previous: bytes, leaf_hash: bytes) -> bytes:
    return keccak256(previous + leaf_hash)


@dataclass(frozen=True)
class NewEntry:
    """An entry to append: without ``signature`` the service signs it."""

    primary_type: str
    message: Mapping[str, Any]
    signature: bytes | None = None


async def record_entry(
    session: AsyncSession,
    keys: LedgerKeys,
    primary_type: str,
    message: Mapping[str, Any],
    signature: bytes | None = None,
) -> LedgerEntry:
    """Append a contribution or decision; without ``signature`` the service signs it.

    A personal signature must recover to the author's registered Ethereum address.
    """
    [entry] = await record_entries(session, keys, [NewEntry(primary_type, message, signature)])
    return entry


async def record_entries(session: AsyncSession, keys: LedgerKeys, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
    """Append several entries in the caller's transaction: all or none, consecutive sequence numbers.

    The batch is validated and signed before the ledger lock is taken, and holds it for the head read (and a
    lookup of earlier copies of wallet-signed entries) and one insert: a writer with many entries (an import,
    a sync from another tool) pays for the lock once.
    """
    [outcome] = await record_units(session, keys, [entries])
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


Outcome = list[LedgerEntry] | DomainError


async def record_units(session: AsyncSession, keys: LedgerKeys, units: Sequence[Sequence[NewEntry]]) -> list[Outcome]:
    """Append independent units of entries in the caller's transaction, each all or none, in the order given.

    A unit that breaks a rule gets its error (nothing of it written) and the others are appended: the group
    commit of :class:`cellorg.ledger.appender.LedgerAppender` writes many callers' units in one transaction
    this way. Validation reads the database once for all units, and the lock, the head read and the insert
    are shared too.
    """
    context = await _Lookups.load(session, [new for unit in units for new in unit])
    prepared: list[list[dict[str, Any]] | DomainError] = []
    for unit in units:
        try:
            prepared.append(_signed_unit(keys, context, unit))
        except DomainError as error:
            prepared.append(error)
    valid = [rows for rows in prepared if isinstance(rows, list) and rows]
    appended = iter(await _append(session, valid) if valid else [])
    outcomes: list[Outcome] = []
    recorded: list[tuple[Mapping[str, Any], LedgerEntry]] = []
    for unit, rows in zip(units, prepared, strict=True):
        if isinstance(rows, DomainError) or not rows:
            outcomes.append(rows if isinstance(rows, DomainError) else [])
            continue
        outcome = next(appended)
        outcomes.append(outcome)
        if isinstance(outcome, list):
            recorded += [(new.message, entry) for new, entry in zip(unit, outcome, strict=True)]
    await _refresh_claims(session, recorded)
    return outcomes


def _signed_unit(keys: LedgerKeys, context: "_Lookups", unit: Sequence[NewEntry]) -> list[dict[str, Any]]:
    """The unit's rows, validated and signed; the error names the entry when the unit has several."""
    rows: list[dict[str, Any]] = []
    for index, new in enumerate(unit):
        try:
            author, message_hash = context.validate(new.primary_type, new.message)
            rows.append(_signed_row(keys, new, author, signing_digest(keys.domain, message_hash)))
        except ValidationFailed as error:
            if len(unit) > 1:
                error.message = f"entry {index + 1} of {len(unit)}: {error.message}"
                error.args = (error.message,)
            raise
    if len({row["digest"] for row in rows}) < len(rows):
        raise ValidationFailed("the batch holds the same signed entry twice", field="signature")
    return rows


def _signed_row(keys: LedgerKeys, new: NewEntry, author: Person, entry_digest: bytes) -> dict[str, Any]:
    if new.signature is None:
        signature, signer = sign_digest(keys.service, entry_digest), str(keys.service.address)
    else:
        signature, signer = new.signature, _personal_signer(entry_digest, new.signature, author)
    return {
        "entry_type": new.primary_type,
        "project_id": new.message["projectId"],
        "author_id": author.id,
        "contribution_kind": new.message.get("kind"),
        "points": new.message.get("points"),
        "amends": new.message["amends"] or None,
        "payload": canonical_json(new.message),
        "digest": entry_digest,
        "signature": signature,
        "signer": signer,
        "signed_by_service": new.signature is None,
    }


def parse_signed(keys: LedgerKeys, typed_data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The primary type and message of typed data a wallet signed, once its domain is this ledger's."""
    if not isinstance(typed_data, Mapping):
        raise ValidationFailed("typed data must be an object", field="typedData")
    primary_type = typed_data.get("primaryType")
    if primary_type not in PERSONAL_TYPES:
        raise ValidationFailed(f"primaryType must be one of {', '.join(PERSONAL_TYPES)}", field="typedData")
    domain = typed_data.get("domain")
    expected = keys.domain.as_message()
    if not isinstance(domain, Mapping):
        raise ValidationFailed("typed data has no domain", field="typedData")
    for name, value in expected.items():
        given = domain.get(name)
        same = (
            isinstance(given, str) and given.lower() == value.lower() if name == "verifyingContract" else given == value
        )
        if not same:
            raise ValidationFailed(
                f"the domain's {name} is {given!r}; this ledger signs with {value!r}", field="typedData"
            )
    message = typed_data.get("message")
    if not isinstance(message, Mapping):
        raise ValidationFailed("typed data has no message", field="typedData")
    return str(primary_type), dict(message)


def _personal_signer(entry_digest: bytes, signature: bytes, author: Person) -> str:
    if author.eth_address is None:
        raise ValidationFailed(f"{author.name} has no Ethereum address registered to sign with", field="signature")
    try:
        signer = recover_signer(entry_digest, signature)
    except SignatureError as error:
        raise ValidationFailed(str(error), field="signature") from error
    if signer.lower() != author.eth_address.lower():
        raise ValidationFailed(
            f"the signature was made by {signer}, not by {author.name}'s key {author.eth_address}", field="signature"
        )
    return signer


# The append path's statements, built once: a statement object keeps its cache key, so an append neither
# rebuilds nor re-keys them. IN lists are expanding parameters of the same statement.
_ENTRIES = LedgerEntry.metadata.tables[LedgerEntry.__tablename__]
_PROJECTS = select(Project).where(Project.id.in_(bindparam("project_ids", expanding=True)))
_PEOPLE = select(Person).where(Person.id.in_(bindparam("author_ids", expanding=True)))
# Each project with each author (or none): one round trip instead of two while either side is one row.
_PROJECTS_WITH_AUTHORS = _PROJECTS.add_columns(Person).outerjoin(
    Person, Person.id.in_(bindparam("author_ids", expanding=True))
)
_APPROVED_SKILLS = select(Skill.name).where(
    Skill.name.in_(bindparam("names", expanding=True)), Skill.status == SkillStatus.APPROVED
)
_AMENDABLE = select(_ENTRIES.c.seq, _ENTRIES.c.project_id, _ENTRIES.c.entry_type).where(
    _ENTRIES.c.seq.in_(bindparam("seqs", expanding=True))
)
_HEAD = select(_ENTRIES.c.seq, _ENTRIES.c.chain_hash).order_by(_ENTRIES.c.seq.desc()).limit(1)
_DUPLICATES = select(_ENTRIES.c.digest, _ENTRIES.c.seq).where(
    _ENTRIES.c.digest.in_(bindparam("digests", expanding=True))
)
_INSERT_ENTRIES = insert(_ENTRIES)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LEDGER_LOCK_KEY)
_REFRESH_CLAIMS = (
    update(SkillClaim)
    .where(
        SkillClaim.person_id == bindparam("contributor"),
        SkillClaim.superseded_at.is_(None),
        SkillClaim.evidence_at < bindparam("moment"),
        SkillClaim.skill_id.in_(select(Skill.id).where(Skill.name.in_(bindparam("skills", expanding=True)))),
    )
    .values(evidence_at=bindparam("moment"))
)


_MAX_ID = 2**31 - 1  # people and projects have integer keys
_MAX_SEQ = 2**63 - 1  # entries a bigint one


@dataclass
class _Lookups:
    """What validating a batch needs from the database: its projects with their authors in one read, then the
    skills and amended entries it names, if any."""

    projects: dict[int, Project]
    authors: dict[int, Person]
    approved_skills: set[str]
    amendable: dict[int, tuple[int, str]]  # seq -> (project, type)
    now: float

    @classmethod
    async def load(cls, session: AsyncSession, entries: Sequence[NewEntry]) -> "_Lookups":
        messages = [(new.primary_type, new.message) for new in entries]
        project_ids = {_int_field(m, "projectId", _MAX_ID) for _t, m in messages} - {None}
        author_ids = {_int_field(m, AUTHOR_FIELD.get(t, ""), _MAX_ID) for t, m in messages} - {None}
        skills = {s for _t, m in messages for s in _list_field(m, "skills") if isinstance(s, str)}
        amended = {_int_field(m, "amends", _MAX_SEQ) for _t, m in messages} - {None, 0}
        projects, authors = await _projects_and_authors(session, project_ids, author_ids)
        return cls(
            projects={project.id: project for project in projects},
            authors={author.id: author for author in authors},
            approved_skills={name for (name,) in await _read(session, _APPROVED_SKILLS, names=skills)},
            amendable={
                seq: (project_id, entry_type)
                for seq, project_id, entry_type in await _read(session, _AMENDABLE, seqs=amended)
            },
            now=utcnow().timestamp(),
        )

    def validate(self, primary_type: str, message: Mapping[str, Any]) -> tuple[Person, bytes]:
        """Raise ValidationFailed (or NotFoundError) for the first rule the entry breaks.

        Returns its author and its EIP-712 hashStruct (encoding the message checks every value's type).
        """
        if primary_type not in ENTRY_TYPES:
            raise ValidationFailed(f"an entry is one of {', '.join(ENTRY_TYPES)}", field="primaryType")
        try:
            message_hash = struct_hash(primary_type, message)
        except TypedDataError as error:
            raise ValidationFailed(str(error), field="message") from error
        project = self.projects.get(message["projectId"])
        if project is None:
            raise NotFoundError("Project", message["projectId"])
        if not project.is_open and primary_type in PERSONAL_TYPES:
            raise ValidationFailed(
                f"the project is {project.status}: its ledger takes no new entries", field="projectId"
            )
        author = self.authors.get(message[AUTHOR_FIELD[primary_type]])
        if author is None or not author.active:
            raise ValidationFailed("the author is not an active person", field=AUTHOR_FIELD[primary_type])
        if message[MOMENT_FIELD[primary_type]] > self.now:
            raise ValidationFailed("an entry cannot record something that has not happened yet", field="occurredAt")
        if primary_type == "Contribution":
            self._check_contribution(message)
        elif primary_type == "Decision":
            _check_texts(message["title"], message["rationale"], *message["alternatives"])
        else:
            _check_texts(message["round"], message["currency"])
        if message["amends"] and self.amendable.get(message["amends"]) != (project.id, primary_type):
            raise ValidationFailed(
                f"entry {message['amends']} is not a {primary_type.lower()} of this project", field="amends"
            )
        return author, message_hash

    def _check_contribution(self, message: Mapping[str, Any]) -> None:
        if message["kind"] not in CONTRIBUTION_KINDS:
            raise ValidationFailed(f"kind must be one of: {', '.join(CONTRIBUTION_KINDS)}", field="kind")
        if not 1 <= message["points"] <= MAX_POINTS:
            raise ValidationFailed(f"points must be between 1 and {MAX_POINTS}", field="points")
        _check_texts(message["title"])
        for evidence in message["evidence"]:
            if not _URL.match(evidence["uri"]):
                raise ValidationFailed(f"evidence {evidence['uri']!r} is not an http(s) URL", field="evidence")
        unknown = sorted(set(message["skills"]) - self.approved_skills)
        if unknown:
            raise ValidationFailed(f"not approved skills: {', '.join(unknown)}", field="skills")


async def _projects_and_authors(
    session: AsyncSession, project_ids: set[int | None], author_ids: set[int | None]
) -> tuple[list[Project], list[Person]]:
    if len(project_ids) > 1 and len(author_ids) > 1:  # the join would return every pair
        projects = await _read(session, _PROJECTS, project_ids=project_ids)
        authors = await _read(session, _PEOPLE, author_ids=author_ids)
        return [project for (project,) in projects], [author for (author,) in authors]
    pairs = await _read(session, _PROJECTS_WITH_AUTHORS, project_ids=project_ids, author_ids=author_ids)
    return [project for project, _author in pairs], [author for _project, author in pairs if author is not None]


async def _read(session: AsyncSession, statement: Executable, **in_lists: set[Any]) -> Sequence[Row[*tuple[Any, ...]]]:
    """The rows of a prebuilt lookup; no query when every IN list is empty."""
    if not any(in_lists.values()):
        return []
    return (await session.execute(statement, {name: list(values) for name, values in in_lists.items()})).all()


def _int_field(message: Any, name: str, largest: int) -> int | None:
    """The field's integer if a row could hold it: a larger one (uint256 allows it) names nothing stored."""
    value = message.get(name) if isinstance(message, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= largest else None


def _list_field(message: Any, name: str) -> list[Any]:
    value = message.get(name) if isinstance(message, Mapping) else None
    return value if isinstance(value, list) else []


def _check_texts(title: str, *others: str) -> None:
    if not title.strip():
        raise ValidationFailed("the title must not be empty", field="title")
    if any(len(value) > MAX_TEXT for value in (title, *others)):
        raise ValidationFailed(f"texts are limited to {MAX_TEXT} characters", field="title")


async def _refresh_claims(session: AsyncSession, recorded: Sequence[tuple[Mapping[str, Any], LedgerEntry]]) -> None:
    """A contribution naming a skill is fresh evidence for the contributor's current claim on it.

    One UPDATE per contributor and moment (a single contribution: one), whatever the number of skills.
    """
    latest: dict[tuple[int, str], int] = {}
    for message, entry in recorded:
        for skill in message.get("skills", ()):
            key = (entry.author_id, skill)
            latest[key] = max(latest.get(key, 0), message["occurredAt"])
    skills_by_moment: dict[tuple[int, int], list[str]] = {}
    for (person_id, skill), occurred_at in latest.items():
        skills_by_moment.setdefault((person_id, occurred_at), []).append(skill)
    for (person_id, occurred_at), skills in skills_by_moment.items():
        moment = datetime.fromtimestamp(occurred_at, tz=UTC)
        await session.execute(_REFRESH_CLAIMS, {"contributor": person_id, "moment": moment, "skills": skills})


async def lock_ledger(session: AsyncSession) -> None:
    """Serialize writers to the log until the transaction ends (SQLite allows one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK)


async def _append(
    session: AsyncSession, units: Sequence[list[dict[str, Any]]]
) -> list[list[LedgerEntry] | DomainError]:
    """Number and chain the units' rows after the head, under the ledger lock, in one bulk insert.

    The head is read after the lock is granted (in its own statement: a statement's snapshot predates a lock
    it waits for). A unit with a wallet-signed entry already on the ledger, or with an entry earlier in this
    append, is refused with nothing of it written (the digest's unique index stands behind both checks). The
    entries returned are not in the session: nothing may change them (the database would refuse).
    """
    await lock_ledger(session)
    head = (await session.execute(_HEAD)).first()
    seq, previous = (0, GENESIS_CHAIN_HASH) if head is None else (head.seq, head.chain_hash)
    taken = await _wallet_signed_on_ledger(session, units)
    recorded_at = utcnow()
    outcomes: list[list[LedgerEntry] | DomainError] = []
    inserted: list[dict[str, Any]] = []
    for rows in units:
        duplicate = next((taken[row["digest"]] for row in rows if row["digest"] in taken), None)
        if duplicate is not None:
            outcomes.append(
                ValidationFailed(f"this signed entry is already on the ledger as entry {duplicate}", field="signature")
            )
            continue
        for row in rows:
            seq += 1
            leaf = HASHER.leaf(leaf_data(row["digest"], row["signature"]))
            previous = chain_hash(previous, leaf)
            row.update(seq=seq, leaf_hash=leaf, chain_hash=previous, recorded_at=recorded_at)
            taken[row["digest"]] = seq
        inserted += rows
        outcomes.append([LedgerEntry(**row) for row in rows])
    if inserted:
        await session.execute(_INSERT_ENTRIES, inserted)
    return outcomes


async def _wallet_signed_on_ledger(session: AsyncSession, units: Sequence[list[dict[str, Any]]]) -> dict[bytes, int]:
    """digest -> seq of the units' wallet-signed entries already on the ledger.

    Only a wallet's signature can come back as a replay: a service-signed entry has a fresh random nonce. Not
    looking the others up also keeps most appends clear of a plan cached while the table was small, which
    scans it whole (PostgreSQL re-plans only after an ANALYZE, and this one runs without autovacuum).
    """
    digests = [row["digest"] for rows in units for row in rows if not row["signed_by_service"]]
    if not digests:
        return {}
    return {row.digest: row.seq for row in (await session.execute(_DUPLICATES, {"digests": digests})).all()}


# --- the tree and checkpoints ---------------------------------------------------------------------------------


async def tree_size(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(LedgerEntry.seq), 0))) or 0)


async def read_nodes(session: AsyncSession, wanted: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    """The stored tree nodes named, in one read."""
    keys = list(set(wanted))
    if not keys:
        return {}
    query = select(LedgerNode.level, LedgerNode.position, LedgerNode.hash).where(
        tuple_(LedgerNode.level, LedgerNode.position).in_(keys)
    )
    found = {(level, position): node for level, position, node in (await session.execute(query)).all()}
    missing = set(keys) - found.keys()
    if missing:
        raise ValidationFailed(f"the ledger lacks tree nodes {sorted(missing)[:3]}: was it tampered with?")
    return found


async def latest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    return await session.scalar(select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1))


def checkpoint_message(size: int, root: bytes, created_at: datetime) -> dict[str, Any]:
    return {"treeSize": size, "root": "0x" + root.hex(), "timestamp": int(created_at.timestamp())}


async def publish_checkpoint(session: AsyncSession, keys: LedgerKeys) -> Checkpoint:
    """Grow the tree to the head, sign the new tree head, prove it extends the last one, and queue its anchor."""
    await lock_ledger(session)
    size = await tree_size(session)
    last = await latest_checkpoint(session)
    if size == 0:
        raise ValidationFailed("the ledger is empty: there is nothing to checkpoint")
    if last is not None and last.tree_size == size:
        return last
    built = last.tree_size if last else 0
    nodes = await _grow_tree(session, built, size)
    root = merkle.root(HASHER, size, nodes | await read_nodes(session, set(merkle.root_keys(size)) - nodes.keys()))
    proof: list[bytes] = []
    if built:
        wanted = merkle.consistency_keys(built, size)
        proof = merkle.consistency_proof(HASHER, built, size, await read_nodes(session, wanted))
    created_at = utcnow().replace(microsecond=0)
    signature = sign_digest(keys.service, digest(keys.domain, "Checkpoint", checkpoint_message(size, root, created_at)))
    checkpoint = Checkpoint(
        tree_size=size,
        root=root,
        created_at=created_at,
        signature=signature,
        signer=keys.service.address,
        previous_size=built or None,
        consistency_proof=b"".join(proof),
    )
    session.add(checkpoint)
    await session.flush()
    await enqueue(session, anchor_checkpoint, checkpoint_id=checkpoint.id)
    return checkpoint


async def _grow_tree(session: AsyncSession, built: int, size: int) -> dict[merkle.NodeKey, bytes]:
    query = select(LedgerEntry.leaf_hash).where(LedgerEntry.seq > built).order_by(LedgerEntry.seq)
    leaves = list((await session.scalars(query)).all())
    border = await read_nodes(session, merkle.append_keys(built))
    created = merkle.appended_nodes(HASHER, built, leaves, border)
    rows = [{"level": level, "position": index, "hash": node} for (level, index), node in created.items()]
    for offset in range(0, len(rows), 10_000):
        await session.execute(insert(LedgerNode), rows[offset : offset + 10_000])
    return border | created


async def anchor_checkpoint(session: AsyncSession, checkpoint_id: int) -> None:
    """Publish a checkpoint's root and size on the chain (a job: the chain may be slow or away)."""
    settings = get_settings()
    checkpoint = await session.get(Checkpoint, checkpoint_id)
    if checkpoint is None or await session.get(CheckpointAnchor, checkpoint_id) is not None:
        return
    keys = LedgerKeys.from_settings(settings)
    w3 = chain.connect(settings.chain_rpc_url)
    if settings.chain_rpc_url is None:
        chain.fund_for_development(w3, keys.service.address)  # the embedded chain is a dev chain by definition
    anchor = chain.publish_checkpoint(w3, keys.service, checkpoint.root, checkpoint.tree_size)
    session.add(
        CheckpointAnchor(
            checkpoint_id=checkpoint.id,
            chain_id=anchor.chain_id,
            transaction_hash=anchor.transaction_hash,
            block_number=anchor.block_number,
            block_hash=anchor.block_hash,
            sender=keys.service.address,
            anchored_at=utcnow(),
        )
    )
    await session.flush()


async def checkpoint_now(session: AsyncSession) -> None:
    """The periodic job: a checkpoint whenever the ledger grew since the last one."""
    last = await latest_checkpoint(session)
    size = await tree_size(session)
    if size and (last is None or last.tree_size < size):
        await publish_checkpoint(session, LedgerKeys.from_settings())


def decode_payload(entry: LedgerEntry) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(entry.payload)
    return payload


async def proof_bundle(session: AsyncSession, keys: LedgerKeys, seq: int) -> dict[str, Any]:
    """The entry's proof bundle against the latest checkpoint that covers it (docs/proof-bundle.md)."""
    entry = await session.get(LedgerEntry, seq)
    if entry is None:
        raise NotFoundError("LedgerEntry", seq)
    checkpoint = await latest_checkpoint(session)
    if checkpoint is None or checkpoint.tree_size < seq:
        raise ValidationFailed(f"entry {seq} is not covered by a checkpoint yet: publish one first", field="seq")
    size = checkpoint.tree_size
    path = merkle.inclusion_proof(
        HASHER, seq - 1, size, await read_nodes(session, merkle.inclusion_keys(seq - 1, size))
    )
    anchor = await session.get(CheckpointAnchor, checkpoint.id)
    return build_bundle(
        seq=seq,
        domain=keys.domain,
        primary_type=entry.entry_type,
        message=decode_payload(entry),
        signature=entry.signature,
        signer=entry.signer,
        leaf_hash=entry.leaf_hash,
        path=path,
        checkpoint={
            "treeSize": size,
            "root": "0x" + checkpoint.root.hex(),
            "timestamp": int(checkpoint.created_at.timestamp()),
            "signature": "0x" + checkpoint.signature.hex(),
            "signer": checkpoint.signer,
        },
        anchor=None
        if anchor is None
        else {
            "chainId": anchor.chain_id,
            "transactionHash": anchor.transaction_hash,
            "blockNumber": anchor.block_number,
            "blockHash": anchor.block_hash,
        },
    )
