"""Bonus rounds: policies, pools, peer allocations, statements computed from the ledger, and their approval.

A statement is a pure function of the ledger at a checkpoint (the project's contributions up to its tree size,
amendments replacing what they amend), the squad's roles, the round's pool, the policy and the peer
allocations; its hash is keccak256 of its canonical JSON. Computing it twice gives the same hash and one row,
and ``recompute`` gives an auditor the same hash months later, or another one if a contribution changed.
"""

import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from babel.numbers import get_currency_precision, is_currency
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus.allocation import AllocationError, allocate, blend_peer_round
from cellorg.ledger.bonus.models import BonusApproval, BonusPolicy, BonusRound, BonusStatement, PeerAllocation
from cellorg.ledger.bonus.policy import Rules, parse_rules
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.models import Checkpoint, LedgerEntry
from cellorg.ledger.typed_data import canonical_json
from cellorg.projects.models import Project, ProjectStatus, SquadMember

STATEMENT_VERSION = 1
FINAL_ROUND = "final"


# --- policies and rounds --------------------------------------------------------------------------------------


async def create_policy(session: AsyncSession, *, name: str, rules: Mapping[str, Any], created_by: int) -> BonusPolicy:
    """A new version of the named policy (version 1 for a new name)."""
    if not name.strip():
        raise ValidationFailed("a policy needs a name", field="name")
    parse_rules(rules)
    latest = await session.scalar(select(func.max(BonusPolicy.version)).where(BonusPolicy.name == name))
    policy = BonusPolicy(
        name=name, version=(latest or 0) + 1, rules=dict(rules), created_by=created_by, created_at=utcnow()
    )
    session.add(policy)
    await session.flush()
    return policy


def minor_units(amount: str, currency: str) -> int:
    """The pool in whole minor units of the currency; refuses what is not a positive amount in it."""
    if not is_currency(currency):
        raise ValidationFailed(f"{currency!r} is not an ISO 4217 currency code", field="currency")
    digits = get_currency_precision(currency)
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValidationFailed(f"the pool {amount!r} is not a number", field="amount") from None
    if not value.is_finite() or value <= 0:
        raise ValidationFailed(f"the pool must be a positive amount, got {amount}", field="amount")
    units = value.scaleb(digits)
    if units != units.to_integral_value():
        raise ValidationFailed(f"{currency} amounts have {digits} decimal places; got {amount}", field="amount")
    return int(units)


def money(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-get_currency_precision(currency))


async def create_round(
    session: AsyncSession,
    *,
    project_id: int,
    name: str,
    amount: str,
    currency: str,
    policy_id: int,
    created_by: int,
) -> BonusRound:
    """A pool for a project: the final round once it has closed, named interim rounds while it runs."""
    project = await get_or_fail(session, Project, project_id)
    policy = await get_or_fail(session, BonusPolicy, policy_id, "BonusPolicy")
    units = minor_units(amount, currency.upper())
    if name == FINAL_ROUND and project.status not in (ProjectStatus.CLOSED, ProjectStatus.ARCHIVED):
        raise ValidationFailed("the final round is set after the project closes; name an interim round", field="name")
    if not name.strip():
        raise ValidationFailed("a round needs a name (final, or an interim one)", field="name")
    if not await _contribution_count(session, project_id):
        raise ValidationFailed("the project has no contributions on the ledger to split a pool by", field="projectId")
    if await session.scalar(select(BonusRound.id).where(BonusRound.project_id == project_id, BonusRound.name == name)):
        raise ValidationFailed(f"the project already has a round named {name!r}", field="name")
    rules = parse_rules(policy.rules)
    members = set((await _roles(session, project_id)).keys()) - rules.excluded
    _check_limits(rules, units, currency.upper(), len(members))
    bonus_round = BonusRound(
        project_id=project_id,
        name=name,
        amount_minor=units,
        currency=currency.upper(),
        policy_id=policy.id,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(bonus_round)
    await session.flush()
    return bonus_round


def _check_limits(rules: Rules, units: int, currency: str, members: int) -> None:
    """Refuse a policy whose caps or floors no split of this pool among these members can meet."""
    try:
        allocate(
            money(units, currency),
            dict.fromkeys(range(members), 1),
            minor_unit_digits=get_currency_precision(currency),
            cap=rules.cap,
            floor=rules.floor,
        )
    except AllocationError as error:
        raise ValidationFailed(error.message, field=error.field) from error


async def _contribution_count(session: AsyncSession, project_id: int) -> int:
    query = select(func.count()).where(LedgerEntry.project_id == project_id, LedgerEntry.entry_type == "Contribution")
    return int(await session.scalar(query) or 0)


async def give_peer_points(session: AsyncSession, round_id: int, giver_id: int, points: Mapping[int, int]) -> None:
    """The giver's 100 points among the other squad members, replacing what they gave before."""
    bonus_round = await get_or_fail(session, BonusRound, round_id, "BonusRound")
    if await session.scalar(_approved_in_round(round_id)):
        raise ValidationFailed("the round's statement is approved: its peer allocation is closed", field="roundId")
    members = await _roles(session, bonus_round.project_id)
    if giver_id not in members:
        raise ValidationFailed("only the squad's members give peer points", field="giverId")
    try:
        blend_peer_round(dict.fromkeys(members, 1), {giver_id: points}, Fraction(1))  # validates the allocation
    except AllocationError as error:
        raise ValidationFailed(error.message, field="points") from error
    await session.execute(
        delete(PeerAllocation).where(PeerAllocation.round_id == round_id, PeerAllocation.giver_id == giver_id)
    )
    now = utcnow()
    session.add_all(
        PeerAllocation(round_id=round_id, giver_id=giver_id, receiver_id=receiver, points=given, given_at=now)
        for receiver, given in points.items()
        if given
    )
    await session.flush()


def _approved_in_round(round_id: int) -> Any:
    return (
        select(BonusApproval.statement_id)
        .join(BonusStatement, BonusStatement.id == BonusApproval.statement_id)
        .where(BonusStatement.round_id == round_id)
        .limit(1)
    )


# --- statements ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contributions:
    points: dict[int, int]
    weights: dict[int, Fraction]
    entries: dict[int, list[int]]


async def compute_statement(
    session: AsyncSession, round_id: int, tree_size: int | None = None, computed_by: int | None = None
) -> BonusStatement:
    """The round's statement at the checkpoint of ``tree_size`` (the latest by default); computed once."""
    content = await statement_content(session, round_id, tree_size)
    statement_hash = keccak256(canonical_json(content).encode())
    existing = await _statement_with_hash(session, round_id, statement_hash)
    if existing is not None:
        return existing
    statement = BonusStatement(
        round_id=round_id,
        tree_size=content["checkpoint"]["treeSize"],
        statement_hash=statement_hash,
        content=content,
        computed_by=computed_by,
        computed_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(statement)
    except IntegrityError:  # another job computed the same statement a moment ago
        found = await _statement_with_hash(session, round_id, statement_hash)
        assert found is not None
        return found
    return statement


async def compute_statement_job(session: AsyncSession, round_id: int, tree_size: int, computed_by: int) -> None:
    """The rq job behind the computeBonusStatement mutation."""
    await compute_statement(session, round_id, tree_size, computed_by)


async def _statement_with_hash(session: AsyncSession, round_id: int, statement_hash: bytes) -> BonusStatement | None:
    query = select(BonusStatement).where(
        BonusStatement.round_id == round_id, BonusStatement.statement_hash == statement_hash
    )
    statement: BonusStatement | None = await session.scalar(query)
    return statement


async def statement_content(session: AsyncSession, round_id: int, tree_size: int | None) -> dict[str, Any]:
    """What a statement says, from the ledger at a checkpoint and the round's recorded inputs."""
    bonus_round = await get_or_fail(session, BonusRound, round_id, "BonusRound")
    policy = await get_or_fail(session, BonusPolicy, bonus_round.policy_id, "BonusPolicy")
    checkpoint = await checkpoint_at(session, tree_size)
    rules = parse_rules(policy.rules)
    roles = await _roles(session, bonus_round.project_id)
    contributions = await _contributions(session, bonus_round.project_id, checkpoint.tree_size, roles, rules)
    members = sorted((set(roles) | set(contributions.points)) - rules.excluded)
    if not any(contributions.weights.get(member) for member in members):
        raise ValidationFailed("no contributions up to this checkpoint to split the pool by", field="treeSize")
    peer = await _peer_points(session, round_id)
    weights = {member: contributions.weights.get(member, Fraction(0)) for member in members}
    if rules.peer_weight and peer:
        weights = blend_peer_round(weights, {g: p for g, p in peer.items() if g in weights}, rules.peer_weight)
    digits = get_currency_precision(bonus_round.currency)
    try:
        amounts = allocate(
            money(bonus_round.amount_minor, bonus_round.currency),
            weights,
            minor_unit_digits=digits,
            cap=rules.cap,
            floor=rules.floor,
        )
    except AllocationError as error:
        raise ValidationFailed(error.message, field=error.field) from error
    return {
        "version": STATEMENT_VERSION,
        "projectId": bonus_round.project_id,
        "round": {
            "id": bonus_round.id,
            "name": bonus_round.name,
            "amount": str(money(bonus_round.amount_minor, bonus_round.currency)),
            "currency": bonus_round.currency,
        },
        "policy": {"id": policy.id, "name": policy.name, "version": policy.version, "rules": policy.rules},
        "checkpoint": {"treeSize": checkpoint.tree_size, "root": "0x" + checkpoint.root.hex()},
        "peerAllocations": sorted(
            [giver, receiver, points] for giver, given in peer.items() for receiver, points in given.items()
        ),
        "excluded": sorted(rules.excluded),
        "lines": [
            {
                "personId": member,
                "role": roles.get(member),
                "points": contributions.points.get(member, 0),
                "weight": str(weights[member]),
                "amount": str(amounts[member]),
                "entries": contributions.entries.get(member, []),
            }
            for member in members
        ],
    }


async def checkpoint_at(session: AsyncSession, tree_size: int | None) -> Checkpoint:
    """The checkpoint of this tree size (the latest without one): what a statement is computed at."""
    query = select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1)
    if tree_size is not None:
        query = select(Checkpoint).where(Checkpoint.tree_size == tree_size)
    checkpoint: Checkpoint | None = await session.scalar(query)
    if checkpoint is None:
        raise NotFoundError("Checkpoint", tree_size if tree_size is not None else "latest")
    return checkpoint


async def _roles(session: AsyncSession, project_id: int) -> dict[int, str]:
    """Each person who was in the squad, with their latest role in it."""
    query = (
        select(SquadMember.person_id, SquadMember.role)
        .where(SquadMember.project_id == project_id)
        .order_by(SquadMember.joined_at, SquadMember.id)
    )
    roles: dict[int, str] = dict((await session.execute(query)).all())
    return roles


async def _contributions(
    session: AsyncSession, project_id: int, tree_size: int, roles: Mapping[int, str], rules: Rules
) -> _Contributions:
    """Points, weights and entry numbers per contributor; an amendment replaces the entry it amends.

    The database groups by contributor and kind (a million entries come back as one row per pair), and the
    weights are summed as integers over one common denominator: both keep a large round within seconds.
    """
    in_scope = (
        LedgerEntry.project_id == project_id,
        LedgerEntry.entry_type == "Contribution",
        LedgerEntry.seq <= tree_size,
    )
    amended = select(LedgerEntry.amends).where(*in_scope, LedgerEntry.amends.is_not(None))
    postgres = session.get_bind().dialect.name == "postgresql"
    # untyped: asyncpg's lists come through as they are, without a copy of every element
    seqs = func.array_agg(LedgerEntry.seq, type_=NullType()) if postgres else func.group_concat(LedgerEntry.seq)
    query = (
        select(LedgerEntry.author_id, LedgerEntry.contribution_kind, func.sum(LedgerEntry.points), seqs)
        .where(*in_scope, LedgerEntry.seq.not_in(amended))
        .group_by(LedgerEntry.author_id, LedgerEntry.contribution_kind)
    )
    scale = math.lcm(1, *(w.denominator for w in rules.kind_weights.values())) * math.lcm(
        1, *(m.denominator for m in rules.role_multipliers.values())
    )

    @functools.cache
    def scaled_weight(kind: str, role: str) -> int:
        return (rules.weight_of(kind, role) * scale).numerator  # a whole number by the choice of scale

    points: dict[int, int] = defaultdict(int)
    scaled: dict[int, int] = defaultdict(int)
    entries: dict[int, list[int]] = defaultdict(list)
    # Core, not the ORM: these are plain rows, tens of thousands of them
    for author, kind, total, numbers in (await (await session.connection()).execute(query)).all():
        points[author] += total
        scaled[author] += total * scaled_weight(kind, roles.get(author, ""))
        entries[author] += numbers if postgres else [int(n) for n in numbers.split(",")]
    for numbers in entries.values():
        numbers.sort()
    weights = {author: Fraction(total, scale) for author, total in scaled.items()}
    return _Contributions(dict(points), weights, dict(entries))


async def _peer_points(session: AsyncSession, round_id: int) -> dict[int, dict[int, int]]:
    query = select(PeerAllocation.giver_id, PeerAllocation.receiver_id, PeerAllocation.points).where(
        PeerAllocation.round_id == round_id
    )
    given: dict[int, dict[int, int]] = defaultdict(dict)
    for giver, receiver, points in (await session.execute(query)).all():
        given[giver][receiver] = points
    return dict(given)


# --- approval -------------------------------------------------------------------------------------------------


async def approve_statement(
    session: AsyncSession, keys: ledger.LedgerKeys, statement_id: int, approver_id: int
) -> BonusApproval:
    """A second finance user approves; the approved statement goes onto the ledger."""
    statement = await get_or_fail(session, BonusStatement, statement_id, "BonusStatement")
    if await session.get(BonusApproval, statement_id) is not None:
        raise ValidationFailed("the statement is already approved", field="statementId")
    if approver_id == statement.computed_by:
        raise ValidationFailed("the user who computed a statement cannot approve it", field="statementId")
    bonus_round = await get_or_fail(session, BonusRound, statement.round_id, "BonusRound")
    if approver_id in await _roles(session, bonus_round.project_id):
        raise ValidationFailed(
            "nobody approves a statement they are paid from: you were in the squad", field="statementId"
        )
    if await session.scalar(_approved_in_round(bonus_round.id)):
        raise ValidationFailed("another statement of this round is approved already", field="statementId")
    now = utcnow()
    entry = await ledger.record_entry(
        session,
        keys,
        "BonusStatement",
        {
            "projectId": bonus_round.project_id,
            "round": bonus_round.name,
            "statementHash": "0x" + statement.statement_hash.hex(),
            "amount": bonus_round.amount_minor,
            "currency": bonus_round.currency,
            "treeSize": statement.tree_size,
            "approvedById": approver_id,
            "approvedAt": int(now.timestamp()),
            "amends": 0,
            "nonce": ledger.new_nonce(),
        },
    )
    approval = BonusApproval(statement_id=statement.id, approved_by=approver_id, approved_at=now, ledger_seq=entry.seq)
    session.add(approval)
    await session.flush()
    return approval


async def recompute(session: AsyncSession, statement_id: int) -> tuple[bytes, bytes]:
    """(stored hash, hash recomputed from the ledger at the statement's checkpoint): equal if nothing changed."""
    statement = await get_or_fail(session, BonusStatement, statement_id, "BonusStatement")
    content = await statement_content(session, statement.round_id, statement.tree_size)
    return statement.statement_hash, keccak256(canonical_json(content).encode())


def lines_of(statement: BonusStatement, person_id: int | None = None) -> Sequence[dict[str, Any]]:
    lines: list[dict[str, Any]] = statement.content["lines"]
    return lines if person_id is None else [line for line in lines if line["personId"] == person_id]
