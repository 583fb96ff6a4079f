"""The ledger in GraphQL: recording contributions and decisions, reading entries, proofs and checkpoints.

Contributions are recorded by squad members with a live grant, decisions by leads; the caller is the
author. An entry signed in the caller's own wallet comes in as the typed data it signed (get it from
``contributionTypedData`` / ``decisionTypedData``) and the signature.
"""

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from cellorg.core.clock import utcnow
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.graphql.org import Person
from cellorg.ledger import models, service
from cellorg.ledger.typed_data import full_typed_data
from cellorg.permissions.catalogue import (
    BONUS_READ,
    CONTRIBUTIONS_READ,
    CONTRIBUTIONS_WRITE,
    DECISIONS_READ,
    DECISIONS_WRITE,
    LEDGER_CHECKPOINT,
    Permission,
    project_scope,
)

MAX_ENTRIES = 500
# Checked for an entry that does not exist: nobody holds a grant there, so the caller learns nothing.
NO_PROJECT = project_scope(0)
_READ = {"Contribution": CONTRIBUTIONS_READ, "Decision": DECISIONS_READ, "BonusStatement": BONUS_READ}
_WRITE = {"Contribution": CONTRIBUTIONS_WRITE, "Decision": DECISIONS_WRITE}


@strawberry.enum
class EntryType(Enum):
    CONTRIBUTION = "Contribution"
    DECISION = "Decision"
    BONUS_STATEMENT = "BonusStatement"


@strawberry.type
class ContentEvidence:
    uri: str
    content_hash: str


@strawberry.type(description="One entry of the append-only log, with what it commits to.")
class LedgerEntry:
    seq: int
    entry_type: EntryType
    project_id: int
    author_id: int
    kind: str | None
    points: int | None
    title: str
    rationale: str | None
    alternatives: list[str]
    skills: list[str]
    evidence: list[ContentEvidence]
    happened_at: datetime
    amends: int | None
    digest: str
    signature: str
    signer: str
    signed_by_service: bool
    leaf_hash: str
    recorded_at: datetime
    message: strawberry.Private[dict[str, Any]]

    @classmethod
    def of(cls, row: models.LedgerEntry) -> "LedgerEntry":
        message = service.decode_payload(row)
        happened = message[service.MOMENT_FIELD[row.entry_type]]
        return cls(
            seq=row.seq,
            entry_type=EntryType(row.entry_type),
            project_id=row.project_id,
            author_id=row.author_id,
            kind=row.contribution_kind,
            points=row.points,
            title=message.get("title") or f"Bonus statement, {message['round']} round",
            rationale=message.get("rationale"),
            alternatives=message.get("alternatives", []),
            skills=message.get("skills", []),
            evidence=[
                ContentEvidence(uri=e["uri"], content_hash=e["contentHash"]) for e in message.get("evidence", [])
            ],
            happened_at=datetime.fromtimestamp(happened, tz=utcnow().tzinfo),
            amends=row.amends,
            digest=_hex(row.digest),
            signature=_hex(row.signature),
            signer=row.signer,
            signed_by_service=row.signed_by_service,
            leaf_hash=_hex(row.leaf_hash),
            recorded_at=row.recorded_at,
            message=message,
        )

    @strawberry.field
    async def author(self, info: Info) -> Person:
        return Person.of(await info.context.loaders.person.load(self.author_id))

    @strawberry.field(description="The EIP-712 typed data, to check the signature with any wallet library.")
    def typed_data(self, info: Info) -> JSON:
        return cast(JSON, full_typed_data(_keys(info).domain, self.entry_type.value, self.message))


@strawberry.type
class Anchor:
    chain_id: str = strawberry.field(description="Decimal: chain ids outgrow GraphQL's 32-bit Int.")
    transaction_hash: str
    block_number: int


@strawberry.type(description="A signed tree head: the log's size and Merkle root at a moment.")
class Checkpoint:
    id: int
    tree_size: int
    root: str
    created_at: datetime
    signature: str
    signer: str
    previous_size: int | None
    anchor: Anchor | None

    @classmethod
    def of(cls, row: models.Checkpoint, anchor: models.CheckpointAnchor | None) -> "Checkpoint":
        return cls(
            id=row.id,
            tree_size=row.tree_size,
            root=_hex(row.root),
            created_at=row.created_at,
            signature=_hex(row.signature),
            signer=row.signer,
            previous_size=row.previous_size,
            anchor=None
            if anchor is None
            else Anchor(
                chain_id=str(anchor.chain_id),
                transaction_hash=anchor.transaction_hash,
                block_number=anchor.block_number,
            ),
        )


LedgerEntryResult = Annotated[
    LedgerEntry | ValidationError | NotFound | PermissionDenied, strawberry.union("LedgerEntryResult")
]


@strawberry.type(description="Entries appended together, with consecutive sequence numbers.")
class LedgerEntries:
    entries: list[LedgerEntry]


LedgerEntriesResult = Annotated[
    LedgerEntries | ValidationError | NotFound | PermissionDenied, strawberry.union("LedgerEntriesResult")
]
CheckpointResult = Annotated[Checkpoint | ValidationError | PermissionDenied, strawberry.union("CheckpointResult")]


@strawberry.input
class ContentEvidenceInput:
    uri: str
    content_hash: str = strawberry.field(description="keccak256 or SHA-256 of the document: 0x + 64 hex digits.")


@strawberry.input
class ContributionInput:
    project_id: int
    kind: str
    title: str
    points: int
    skills: list[str] = strawberry.field(default_factory=list)
    evidence: list[ContentEvidenceInput] = strawberry.field(default_factory=list)
    occurred_at: datetime | None = None
    amends: int | None = None


@strawberry.input
class DecisionInput:
    project_id: int
    title: str
    rationale: str
    alternatives: list[str] = strawberry.field(default_factory=list)
    decided_at: datetime | None = None
    amends: int | None = None


@strawberry.type
class LedgerQuery:
    @query_field(description="Entries in sequence order; without projectId every entry (auditors).")
    async def ledger_entries(
        self,
        info: Info,
        project_id: int | None = None,
        entry_type: EntryType | None = None,
        after_seq: int = 0,
        first: int = 100,
    ) -> list[LedgerEntry]:
        if not 1 <= first <= MAX_ENTRIES:
            raise ValidationFailed(f"first must be between 1 and {MAX_ENTRIES}", field="first")
        types = _readable_types(info, project_id, entry_type)
        query = select(models.LedgerEntry).where(
            models.LedgerEntry.seq > after_seq, models.LedgerEntry.entry_type.in_(types)
        )
        if project_id is not None:
            query = query.where(models.LedgerEntry.project_id == project_id)
        rows = await info.context.db.scalars(query.order_by(models.LedgerEntry.seq).limit(first))
        return [LedgerEntry.of(row) for row in rows]

    @query_field()
    async def ledger_entry(self, info: Info, seq: int) -> LedgerEntry:
        return LedgerEntry.of(await _readable_entry(info, seq))

    @query_field(description="The entry's proof bundle (docs/proof-bundle.md), verifiable offline.")
    async def proof_bundle(self, info: Info, seq: int) -> JSON:
        await _readable_entry(info, seq)
        return cast(JSON, await service.proof_bundle(info.context.db, _keys(info), seq))

    @query_field(description="Signed tree heads, newest first, with where each is anchored.")
    async def ledger_checkpoints(self, info: Info, first: int = 20) -> list[Checkpoint]:
        if not 1 <= first <= MAX_ENTRIES:
            raise ValidationFailed(f"first must be between 1 and {MAX_ENTRIES}", field="first")
        query = (
            select(models.Checkpoint, models.CheckpointAnchor)
            .outerjoin(models.CheckpointAnchor)
            .order_by(models.Checkpoint.tree_size.desc())
            .limit(first)
        )
        return [Checkpoint.of(row, anchor) for row, anchor in (await info.context.db.execute(query)).all()]

    @query_field(description="The typed data of a contribution by the caller, for their wallet to sign.")
    async def contribution_typed_data(self, info: Info, input: ContributionInput) -> JSON:  # noqa: A002
        info.context.require(CONTRIBUTIONS_WRITE, project_scope(input.project_id))
        return cast(JSON, full_typed_data(_keys(info).domain, "Contribution", _contribution(info, input)))

    @query_field(description="The typed data of a decision by the caller, for their wallet to sign.")
    async def decision_typed_data(self, info: Info, input: DecisionInput) -> JSON:  # noqa: A002
        info.context.require(DECISIONS_WRITE, project_scope(input.project_id))
        return cast(JSON, full_typed_data(_keys(info).domain, "Decision", _decision(info, input)))


@strawberry.type
class LedgerMutation:
    @mutation_field(description="Record the caller's contribution, signed by the service key.")
    async def record_contribution(self, info: Info, input: ContributionInput) -> LedgerEntryResult:  # noqa: A002
        info.context.require(CONTRIBUTIONS_WRITE, project_scope(input.project_id))
        return await _append_one(info, service.NewEntry("Contribution", _contribution(info, input)))

    @mutation_field(description="Record several of the caller's contributions at once (an import): all or none.")
    async def record_contributions(self, info: Info, inputs: list[ContributionInput]) -> LedgerEntriesResult:
        if not 1 <= len(inputs) <= MAX_ENTRIES:
            raise ValidationFailed(f"record between 1 and {MAX_ENTRIES} contributions at once", field="inputs")
        for project_id in sorted({item.project_id for item in inputs}):
            info.context.require(CONTRIBUTIONS_WRITE, project_scope(project_id))
        batch = [service.NewEntry("Contribution", _contribution(info, item)) for item in inputs]
        entries = await info.context.services.appender.append(batch)
        return LedgerEntries(entries=[LedgerEntry.of(entry) for entry in entries])

    @mutation_field(description="Record a key decision taken by the caller, a lead of the project.")
    async def record_decision(self, info: Info, input: DecisionInput) -> LedgerEntryResult:  # noqa: A002
        info.context.require(DECISIONS_WRITE, project_scope(input.project_id))
        return await _append_one(info, service.NewEntry("Decision", _decision(info, input)))

    @mutation_field(description="Record an entry the caller signed in their own wallet (eth_signTypedData_v4).")
    async def record_signed_entry(self, info: Info, typed_data: JSON, signature: str) -> LedgerEntryResult:
        _require_write(info, typed_data)
        keys = _keys(info)
        primary_type, message = service.parse_signed(keys, cast(dict[str, Any], typed_data))
        author_field = service.AUTHOR_FIELD[primary_type]
        if message.get(author_field) != info.context.viewer.person_id:
            raise ValidationFailed(f"{author_field} must be the caller: record your own entries", field=author_field)
        return await _append_one(info, service.NewEntry(primary_type, message, _signature_bytes(signature)))

    @mutation_field(description="Publish a signed checkpoint of the log now and queue its anchoring on chain.")
    async def publish_checkpoint(self, info: Info) -> CheckpointResult:
        info.context.require(LEDGER_CHECKPOINT)
        checkpoint = await service.publish_checkpoint(info.context.db, _keys(info))
        return Checkpoint.of(checkpoint, await info.context.db.get(models.CheckpointAnchor, checkpoint.id))


async def _append_one(info: Info, entry: service.NewEntry) -> "LedgerEntry":
    """Through the process's group commit: committed with the concurrent requests' entries, not by this request."""
    [appended] = await info.context.services.appender.append([entry])
    return LedgerEntry.of(appended)


def _keys(info: Info) -> service.LedgerKeys:
    return service.LedgerKeys.from_settings(info.context.services.runtime.settings)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _contribution(info: Info, input: ContributionInput) -> dict[str, Any]:  # noqa: A002
    return service.contribution_message(
        project_id=input.project_id,
        contributor_id=info.context.viewer.person_id,
        kind=input.kind,
        title=input.title,
        points=input.points,
        occurred_at=input.occurred_at or utcnow(),
        skills=input.skills,
        evidence=[(e.uri, e.content_hash) for e in input.evidence],
        amends=input.amends,
    )


def _decision(info: Info, input: DecisionInput) -> dict[str, Any]:  # noqa: A002
    return service.decision_message(
        project_id=input.project_id,
        decided_by_id=info.context.viewer.person_id,
        title=input.title,
        rationale=input.rationale,
        alternatives=input.alternatives,
        decided_at=input.decided_at or utcnow(),
        amends=input.amends,
    )


def _readable_types(info: Info, project_id: int | None, entry_type: EntryType | None) -> list[str]:
    """The entry types the caller may read in the project (or in every project); none is a denial."""
    scope = "org" if project_id is None else project_scope(project_id)
    wanted = [entry_type.value] if entry_type else list(_READ)
    readable = [name for name in wanted if info.context.authz.allows(_READ[name], scope)]
    if not readable:
        info.context.require(_READ[wanted[0]], scope)
    return readable


async def _readable_entry(info: Info, seq: int) -> models.LedgerEntry:
    entry: models.LedgerEntry | None = await info.context.db.get(models.LedgerEntry, seq)
    if entry is None:
        info.context.require(CONTRIBUTIONS_READ, NO_PROJECT)  # auditors learn it is missing, nobody else
        raise NotFoundError("LedgerEntry", seq)
    info.context.require(_READ[entry.entry_type], project_scope(entry.project_id))
    return entry


def _require_write(info: Info, typed_data: Any) -> None:
    """Check the grant before reading the typed data closely: a caller without one learns nothing."""
    fields = typed_data if isinstance(typed_data, dict) else {}
    message = fields.get("message")
    project_id = message.get("projectId") if isinstance(message, dict) else None
    permission: Permission = _WRITE.get(str(fields.get("primaryType")), CONTRIBUTIONS_WRITE)
    scope = project_scope(project_id) if isinstance(project_id, int) and project_id > 0 else NO_PROJECT
    info.context.require(permission, scope)


def _signature_bytes(signature: str) -> bytes:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 65:
        raise ValidationFailed("the signature must be 65 bytes as 0x followed by 130 hex digits", field="signature")
    return raw
