"""Queries of the org graph. Lists return in a constant number of statements."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.util import AliasedClass

from cellorg.org.models import Membership, MembershipKind, Person, Unit


class UnitSummary(NamedTuple):
    """A unit as a plain row: subtrees of thousands of units skip ORM bookkeeping (and frozen-dataclass cost)."""

    id: int
    name: str
    parent_id: int | None
    dimension_id: int
    depth: int


@dataclass(frozen=True, slots=True)
class PeopleFilter:
    unit_id: int | None = None
    include_descendants: bool = False
    dimension_id: int | None = None
    name_contains: str | None = None
    include_inactive: bool = False


def in_subtree(prefix: str, path: InstrumentedAttribute[str] = Unit.path) -> ColumnElement[bool]:
    """Paths that start with ``prefix`` as an index range: '/' sorts right before '0'."""
    return and_(path >= prefix, path < prefix[:-1] + "0")


def current(membership: type[Membership] | AliasedClass[Membership], at: datetime) -> ColumnElement[bool]:
    return and_(membership.since <= at, or_(membership.until.is_(None), membership.until > at))


def subtree_prefix(unit_id: int, path: str) -> str:
    return f"{path}{unit_id}/"


async def unit_subtree(session: AsyncSession, unit_id: int, path: str) -> list[UnitSummary]:
    """Every unit below ``unit_id`` (whose own path is ``path``), as plain rows."""
    query = select(Unit.id, Unit.name, Unit.parent_id, Unit.dimension_id, Unit.path).where(
        in_subtree(subtree_prefix(unit_id, path))
    )
    base_depth = path.count("/")
    connection = await session.connection()  # Core rows: no ORM result processing for thousands of rows
    return [
        UnitSummary(uid, name, parent_id, dimension_id, unit_path.count("/") - base_depth)
        for uid, name, parent_id, dimension_id, unit_path in (await connection.execute(query)).all()
    ]


async def units_of_dimension(session: AsyncSession, dimension_id: int) -> Sequence[Unit]:
    query = select(Unit).where(Unit.dimension_id == dimension_id).order_by(Unit.path, Unit.name)
    return (await session.scalars(query)).all()


async def home_units_of(session: AsyncSession, person_ids: Sequence[int], at: datetime) -> dict[int, Unit]:
    query = (
        select(Membership.person_id, Unit)
        .join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.person_id.in_(person_ids), Membership.kind == MembershipKind.HOME, current(Membership, at))
    )
    return dict((await session.execute(query)).all())


async def memberships_of(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, list[Membership]]:
    query = select(Membership).where(Membership.person_id.in_(person_ids)).order_by(Membership.since, Membership.id)
    grouped: dict[int, list[Membership]] = {person_id: [] for person_id in person_ids}
    for membership in (await session.scalars(query)).all():
        grouped[membership.person_id].append(membership)
    return grouped


def _people_query(people_filter: PeopleFilter, at: datetime, units: Select[int] | None) -> Select[Person]:
    query = select(Person)
    if not people_filter.include_inactive:
        query = query.where(Person.active.is_(True))
    if people_filter.name_contains:
        query = query.where(func.lower(Person.name).contains(people_filter.name_contains.lower(), autoescape=True))
    if units is not None:
        # Aliased: the page may also join memberships and units for the home unit.
        filtered = aliased(Membership)
        member = select(filtered.id).where(
            filtered.person_id == Person.id, filtered.unit_id.in_(units), current(filtered, at)
        )
        query = query.where(member.exists())
    return query


def _unit_scope(people_filter: PeopleFilter, unit: Unit | None) -> Select[int] | None:
    scoped = aliased(Unit)
    if unit is not None and people_filter.include_descendants:
        return select(scoped.id).where(or_(scoped.id == unit.id, in_subtree(unit.subtree_prefix, scoped.path)))
    if unit is not None:
        return select(scoped.id).where(scoped.id == unit.id)
    if people_filter.dimension_id is not None:
        return select(scoped.id).where(scoped.dimension_id == people_filter.dimension_id)
    return None


async def people_page(
    session: AsyncSession,
    people_filter: PeopleFilter,
    *,
    unit: Unit | None,
    at: datetime,
    after: tuple[str, int] | None,
    limit: int,
    with_home_unit: bool = False,
) -> list[tuple[Person, Unit | None]]:
    """One page ordered by (name, id), keyset-paginated: fetch ``limit + 1`` to learn if more follow.

    With ``with_home_unit`` each person comes with their current home unit from the same statement;
    otherwise the unit is None.
    """
    query = _people_query(people_filter, at, _unit_scope(people_filter, unit))
    if after is not None:
        name, person_id = after
        query = query.where(or_(Person.name > name, and_(Person.name == name, Person.id > person_id)))
    query = query.order_by(Person.name, Person.id).limit(limit + 1)
    if not with_home_unit:
        return [(person, None) for person in (await session.scalars(query)).all()]
    home = and_(Membership.person_id == Person.id, Membership.kind == MembershipKind.HOME, current(Membership, at))
    joined = query.outerjoin(Membership, home).outerjoin(Unit, Unit.id == Membership.unit_id).add_columns(Unit)
    return [(person, home_unit) for person, home_unit in (await session.execute(joined)).all()]


async def count_people(session: AsyncSession, people_filter: PeopleFilter, *, unit: Unit | None, at: datetime) -> int:
    inner = _people_query(people_filter, at, _unit_scope(people_filter, unit)).subquery()
    return int(await session.scalar(select(func.count()).select_from(inner)) or 0)


async def current_members(session: AsyncSession, unit_ids: Sequence[int], at: datetime) -> dict[int, list[Person]]:
    query = (
        select(Membership.unit_id, Person)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.unit_id.in_(unit_ids), current(Membership, at), Person.active.is_(True))
        .order_by(Person.name, Person.id)
    )
    grouped: dict[int, list[Person]] = {unit_id: [] for unit_id in unit_ids}
    for unit_id, person in (await session.execute(query)).all():
        grouped[unit_id].append(person)
    return grouped


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.email == email.strip().lower()))
