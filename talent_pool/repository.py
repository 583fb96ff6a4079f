"""What the matcher needs from the database, fetched in a few set-based statements.

The candidates' claims and units are tens of thousands of rows: they come back as numpy columns, which
PostgreSQL sends packed (see ``_columns``).
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeEngine

from cellorg.core.db import UTCDateTime
from cellorg.org.models import Dimension, Membership, MembershipKind, Person, Unit
from cellorg.org.repository import current
from cellorg.projects.models import Project, ProjectStatus, SquadMember, SquadSlot
from cellorg.talent_pool.models import Availability, Endorsement, SkillClaim, SlotRequirement
from cellorg.talent_pool.scoring import HeldRequirements


async def slots_with_requirements(session: AsyncSession, slot_ids: Sequence[int]) -> set[int]:
    query = select(SlotRequirement.slot_id).where(SlotRequirement.slot_id.in_(slot_ids)).distinct()
    return set((await session.scalars(query)).all())


async def slots_of_project(session: AsyncSession, project_id: int) -> list[SquadSlot]:
    query = select(SquadSlot).where(SquadSlot.project_id == project_id).order_by(SquadSlot.id)
    return list((await session.scalars(query)).all())


@dataclass(frozen=True, slots=True)
class CandidateClaims:
    """The (slot, person) pairs whose person holds every requirement of the slot, with the claims meeting them."""

    slot_id: NDArray[np.int64]  # per pair
    person_id: NDArray[np.int64]  # per pair
    held: HeldRequirements  # per requirement of each pair, with the age of the evidence at ``at``


async def candidate_claims(
    session: AsyncSession, slot_ids: Sequence[int], *, excluding: Collection[int], at: datetime
) -> CandidateClaims:
    """Every active person's pairs with these slots, apart from the ``excluding`` people.

    SQL fetches each requirement's current claims at or above its minimum level, in as few columns as it can
    (packing each costs PostgreSQL more than reading the claim); numpy keeps the pairs that meet every
    requirement, which costs less than grouping in PostgreSQL. A person with two current claims on one skill
    (the service never makes them) counts once, with the newest of them that meets the minimum level.
    """
    connection = await session.connection()
    requirement_ids, requirement_slots, min_levels, weights = await _columns(
        connection,
        select(SlotRequirement.id, SlotRequirement.slot_id, SlotRequirement.min_level, SlotRequirement.weight)
        .where(SlotRequirement.slot_id.in_(slot_ids))
        .order_by(SlotRequirement.id),
    )
    met_requirement, person, claim, level, evidence_at = await _columns(
        connection,
        select(SlotRequirement.id, SkillClaim.person_id, SkillClaim.id, SkillClaim.level, SkillClaim.evidence_at)
        .join(
            SkillClaim,
            and_(
                SkillClaim.skill_id == SlotRequirement.skill_id,
                SkillClaim.superseded_at.is_(None),
                SkillClaim.level >= SlotRequirement.min_level,
            ),
        )
        # the requirements read above: one added since (another snapshot) waits for the next proposal
        .where(_among(connection, SlotRequirement.id, requirement_ids)),
    )
    need = np.searchsorted(requirement_ids, met_requirement)  # the row's requirement, in requirement order
    slot = requirement_slots[need]
    _, slot_of_requirement, requirements_of_slot = np.unique(requirement_slots, return_inverse=True, return_counts=True)
    rows = _meeting_every_requirement(slot, person, need, claim, requirements_of_slot[slot_of_requirement])
    (inactive,) = await _columns(connection, select(Person.id).where(Person.active.is_(False)))
    rows = rows[~np.isin(person[rows], np.concatenate([inactive, np.fromiter(excluding, np.int64, len(excluding))]))]
    starts = _starts(slot[rows], person[rows])
    endorsements, shared = await _endorsements(connection, claim[rows])
    held = HeldRequirements(
        pair=np.cumsum(starts) - 1,
        level=level[rows],
        min_level=min_levels[need[rows]],
        weight=weights[need[rows]],
        age_seconds=(_microseconds(at) - evidence_at[rows]) / 1e6,
        endorsements=endorsements,
        shared_squad_endorsements=shared,
    )
    return CandidateClaims(slot[rows][starts], person[rows][starts], held)


def _meeting_every_requirement(
    slot: NDArray[np.int64],
    person: NDArray[np.int64],
    need: NDArray[np.intp],
    claim: NDArray[np.int64],
    needed: NDArray[np.intp],
) -> NDArray[np.intp]:
    """The claim rows whose (slot, person) pair meets every requirement of the slot (``needed``: how many the
    slot of each requirement has), sorted by pair and requirement, the newest claim of a repeated requirement."""
    order = np.lexsort((claim, need, person, slot))
    rows = order[np.roll(_starts(slot[order], person[order], need[order]), -1)]
    starts = _starts(slot[rows], person[rows])
    pair = np.cumsum(starts) - 1
    complete: NDArray[np.intp] = rows[(np.bincount(pair) == needed[need[rows][starts]])[pair]]
    return complete


def _starts(*columns: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Where each run of equal rows begins, in rows sorted by these columns."""
    starts: NDArray[np.bool_] = np.ones(len(columns[0]), dtype=np.bool_)
    starts[1:] = np.any([column[1:] != column[:-1] for column in columns], axis=0)
    return starts


async def _endorsements(
    connection: AsyncConnection, claim_ids: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each claim's endorsements, and how many of them come from people who shared a squad with the claimant."""
    endorsed, total, shared = await _columns(
        connection,
        select(
            Endorsement.claim_id,
            func.count().cast(Integer),
            func.sum(case((Endorsement.shared_squad, 1), else_=0)).cast(Integer),
        )
        .where(_among(connection, Endorsement.claim_id, claim_ids))
        .group_by(Endorsement.claim_id),
    )
    counts = np.zeros((2, len(claim_ids)), dtype=np.int64)
    if len(endorsed):
        order = np.argsort(endorsed)
        position = order[np.searchsorted(endorsed[order], claim_ids).clip(max=len(endorsed) - 1)]
        found = endorsed[position] == claim_ids
        counts[:, found] = total[position[found]], shared[position[found]]
    return counts[0], counts[1]


async def allocations(session: AsyncSession, *, excluding_project: int) -> dict[int, int]:
    """How much of each person the other open squads hold now (only people with any allocation)."""
    query = (
        select(SquadMember.person_id, func.sum(SquadMember.allocation_pct))
        .join(Project, Project.id == SquadMember.project_id)
        .where(
            SquadMember.left_at.is_(None),
            SquadMember.project_id != excluding_project,
            Project.status.in_((ProjectStatus.DRAFT, ProjectStatus.ACTIVE)),
        )
        .group_by(SquadMember.person_id)
    )
    return {person_id: int(total) for person_id, total in (await session.execute(query)).all()}


async def capacities(session: AsyncSession, starts: date, ends: date) -> dict[int, int]:
    """The lowest declared capacity of each person over [starts, ends]; people not listed are at 100%."""
    query = (
        select(Availability.person_id, func.min(Availability.capacity_pct))
        .where(Availability.starts_on <= ends, Availability.ends_on >= starts)
        .group_by(Availability.person_id)
    )
    return {person_id: int(capacity) for person_id, capacity in (await session.execute(query)).all()}


async def units_by_dimension(
    session: AsyncSession, person_ids: NDArray[np.int64], dimension_keys: Sequence[str], at: datetime
) -> dict[int, dict[str, int]]:
    """The current unit per dimension of these people: the home membership's, else the first recorded one's."""
    if not dimension_keys or not len(person_ids):
        return {}
    connection = await session.connection()
    query = select(Dimension.id, Dimension.key).where(Dimension.key.in_(dimension_keys))
    keys: dict[int, str] = dict((await connection.execute(query)).all())
    person, dimension, unit, away, membership = await _columns(
        connection,
        select(
            Membership.person_id,
            Unit.dimension_id,
            Membership.unit_id,
            case((Membership.kind == MembershipKind.HOME, 0), else_=1),
            Membership.id,
        )
        .join(Unit, Unit.id == Membership.unit_id)
        .where(
            _among(connection, Membership.person_id, person_ids),
            Unit.dimension_id.in_(list(keys)),
            current(Membership, at),
        ),
    )
    order = np.lexsort((membership, away, dimension, person))
    chosen = order[_starts(person[order], dimension[order])]
    found: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for person_id, dimension_id, unit_id in zip(
        person[chosen].tolist(), dimension[chosen].tolist(), unit[chosen].tolist(), strict=True
    ):
        found[person_id][keys[dimension_id]] = unit_id
    return found


class _Wire(NamedTuple):
    """How PostgreSQL sends a column type in binary: the send function, and the numpy type it decodes to."""

    send: str
    dtype: str


_INTEGER = _Wire("int4send", ">i4")
_FLOAT = _Wire("float8send", ">f8")
_TIMESTAMP = _Wire("timestamptz_send", ">i8")  # microseconds since 2000-01-01 UTC
_POSTGRES_EPOCH_MICROSECONDS = 946_684_800_000_000
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _wire(kind: TypeEngine[Any]) -> _Wire:
    if isinstance(kind, UTCDateTime):
        return _TIMESTAMP
    if isinstance(kind, Float):
        return _FLOAT
    if isinstance(kind, Integer) and not isinstance(kind, BigInteger):
        return _INTEGER
    raise TypeError(f"no binary column reader for {kind!r}")


def _microseconds(at: datetime) -> int:
    """Microseconds since 1970-01-01 UTC, exactly."""
    return (at - _UNIX_EPOCH) // timedelta(microseconds=1)


async def _columns(connection: AsyncConnection, query: Select[*tuple[Any, ...]]) -> list[NDArray[Any]]:
    """The query's columns as numpy arrays: int4 columns as int64, float8 as float64, timestamps as int64
    microseconds since 1970 (exact). A column must not hold NULL.

    PostgreSQL sends each column as one bytea of its values' binary form (``string_agg`` over the type's send
    function), which numpy reads without a Python object per value: 70,000 rows arrive in milliseconds, not in
    a hundred. PostgreSQL's executor hands each input row to every aggregate of the query in turn, so the columns
    stay aligned; a row count checks that no column lost a NULL (``string_agg`` skips them). Other databases
    return ordinary rows.
    """
    wires = [_wire(column.type) for column in query.selected_columns]
    read = _packed_columns if connection.dialect.name == "postgresql" else _row_columns
    columns = await read(connection, query, wires)
    return [
        column.astype(np.float64 if wire is _FLOAT else np.int64) for column, wire in zip(columns, wires, strict=True)
    ]


async def _packed_columns(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]], wires: list[_Wire]
) -> list[NDArray[Any]]:
    rows = query.subquery()
    sends = (getattr(func, wire.send)(column) for column, wire in zip(rows.c, wires, strict=True))
    packed = select(func.count(), *(func.string_agg(send, literal(b"")) for send in sends))
    count, *values = (await connection.execute(packed)).one()
    columns = [np.frombuffer(value or b"", dtype=wire.dtype) for value, wire in zip(values, wires, strict=True)]
    if any(len(column) != count for column in columns):  # string_agg skips NULLs
        raise ValueError("a column read as an array holds NULL")
    return [
        column + _POSTGRES_EPOCH_MICROSECONDS if wire is _TIMESTAMP else column
        for column, wire in zip(columns, wires, strict=True)
    ]


async def _row_columns(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]], wires: list[_Wire]
) -> list[NDArray[Any]]:
    rows = (await connection.execute(query)).all()
    by_column: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) or [()] * len(wires)
    if any(None in column for column in by_column):
        raise ValueError("a column read as an array holds NULL")
    return [
        np.array([_microseconds(value) for value in column] if wire is _TIMESTAMP else column)
        for column, wire in zip(by_column, wires, strict=True)
    ]


def _among(
    connection: AsyncConnection, column: InstrumentedAttribute[int], values: NDArray[np.int64]
) -> ColumnElement[bool]:
    """``column IN values``: one array parameter on PostgreSQL, inline values elsewhere (SQLite caps the number
    of bound parameters)."""
    listed = values.tolist()
    if connection.dialect.name == "postgresql":
        return column == any_(literal(listed, ARRAY(Integer)))
    return column.in_(bindparam("values", listed, expanding=True, literal_execute=True))
