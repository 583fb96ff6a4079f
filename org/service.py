"""Rules of the org graph. Every function validates before it writes and only flushes."""

import re
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import ValidationFailed
from cellorg.org.models import Dimension, Membership, MembershipKind, Person, Unit
from cellorg.org.repository import current, in_subtree, person_by_email
from cellorg.permissions.catalogue import MEMBER_ROLE, subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import end_all_grants_of, grant_role

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ETH_ADDRESS_PATTERN = re.compile(r"^0x[0-9a-fA-F]{40}$")
DIMENSION_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MAX_NAME = 200


def _clean_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"{field} must be 1 to {MAX_NAME} characters", field=field)
    return name


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise ValidationFailed(f"{email!r} is not an email address", field="email")
    return email


def _clean_eth_address(address: str | None) -> str | None:
    if address is None or address == "":
        return None
    if not ETH_ADDRESS_PATTERN.match(address):
        raise ValidationFailed("an Ethereum address is 0x followed by 40 hex digits", field="ethAddress")
    return address.lower()


# Dimensions and units


async def create_dimension(session: AsyncSession, *, key: str, name: str) -> Dimension:
    if not DIMENSION_KEY_PATTERN.match(key):
        raise ValidationFailed("a dimension key is lowercase letters, digits and _, 2-64 long", field="key")
    if await session.scalar(select(Dimension.id).where(Dimension.key == key)) is not None:
        raise ValidationFailed(f"dimension {key!r} already exists", field="key")
    dimension = Dimension(key=key, name=_clean_name(name), builtin=False)
    session.add(dimension)
    await session.flush()
    return dimension


async def create_unit(session: AsyncSession, *, dimension_id: int, name: str, parent_id: int | None) -> Unit:
    await get_or_fail(session, Dimension, dimension_id)
    path = "/"
    if parent_id is not None:
        parent = await get_or_fail(session, Unit, parent_id)
        if parent.dimension_id != dimension_id:
            raise ValidationFailed("a unit's parent must be in the same dimension", field="parentId")
        path = parent.subtree_prefix
    name = _clean_name(name)
    await _refuse_sibling_name(session, dimension_id, parent_id, name)
    unit = Unit(dimension_id=dimension_id, parent_id=parent_id, name=name, path=path, created_at=utcnow())
    session.add(unit)
    await session.flush()
    return unit


async def rename_unit(session: AsyncSession, unit_id: int, name: str) -> Unit:
    unit = await get_or_fail(session, Unit, unit_id)
    name = _clean_name(name)
    if name != unit.name:
        await _refuse_sibling_name(session, unit.dimension_id, unit.parent_id, name)
        unit.name = name
        await session.flush()
    return unit


async def move_unit(session: AsyncSession, unit_id: int, new_parent_id: int | None) -> Unit:
    """Re-parent a unit with its whole subtree: one UPDATE rewrites the descendants' paths."""
    unit = await get_or_fail(session, Unit, unit_id)
    new_path = "/"
    if new_parent_id is not None:
        parent = await get_or_fail(session, Unit, new_parent_id)
        if parent.dimension_id != unit.dimension_id:
            raise ValidationFailed("a unit cannot move into another dimension", field="parentId")
        if parent.id == unit.id or parent.path.startswith(unit.subtree_prefix):
            raise ValidationFailed("a unit cannot move under itself or its own descendant", field="parentId")
        new_path = parent.subtree_prefix
    await _refuse_sibling_name(session, unit.dimension_id, new_parent_id, unit.name, ignore_id=unit.id)
    old_prefix = unit.subtree_prefix
    new_prefix = f"{new_path}{unit.id}/"
    await session.execute(
        update(Unit)
        .where(in_subtree(old_prefix))
        .values(path=new_prefix + func.substr(Unit.path, len(old_prefix) + 1))
        .execution_options(synchronize_session=False)
    )
    unit.parent_id = new_parent_id
    unit.path = new_path
    await session.flush()
    return unit


async def _refuse_sibling_name(
    session: AsyncSession, dimension_id: int, parent_id: int | None, name: str, ignore_id: int | None = None
) -> None:
    query = select(Unit.id).where(
        Unit.dimension_id == dimension_id,
        Unit.parent_id.is_(None) if parent_id is None else Unit.parent_id == parent_id,
        Unit.name == name,
    )
    if ignore_id is not None:
        query = query.where(Unit.id != ignore_id)
    if await session.scalar(query.limit(1)) is not None:
        raise ValidationFailed(f"a unit named {name!r} already exists there", field="name")


# People


async def create_person(
    session: AsyncSession,
    policy: PolicyEnforcer,
    *,
    name: str,
    email: str,
    home_unit_id: int | None,
    eth_address: str | None = None,
    created_by: str | None,
) -> Person:
    """A new active person with a home unit and the org ``member`` role."""
    now = utcnow()
    person = Person(
        name=_clean_name(name),
        email=_clean_email(email),
        eth_address=_clean_eth_address(eth_address),
        active=True,
        created_at=now,
    )
    await _refuse_taken(session, person)
    if home_unit_id is not None:
        await get_or_fail(session, Unit, home_unit_id)
    session.add(person)
    await session.flush()
    if home_unit_id is not None:
        session.add(Membership(person_id=person.id, unit_id=home_unit_id, kind=MembershipKind.HOME, since=now))
    await grant_role(
        session,
        policy,
        subject=subject_of_person(person.id),
        role=MEMBER_ROLE,
        granted_by=created_by,
        reason="active person",
    )
    await session.flush()
    return person


async def update_person(
    session: AsyncSession,
    person_id: int,
    *,
    name: str | None = None,
    email: str | None = None,
    eth_address: str | None = None,
    home_unit_id: int | None = None,
) -> Person:
    """Change what is given; a new home unit ends the current home membership and keeps it as history."""
    person = await get_or_fail(session, Person, person_id)
    if not person.active:
        raise ValidationFailed(f"person {person_id} is deactivated", field="personId")
    if name is not None:
        person.name = _clean_name(name)
    if email is not None:
        person.email = _clean_email(email)
    if eth_address is not None:
        person.eth_address = _clean_eth_address(eth_address)
    await _refuse_taken(session, person)
    if home_unit_id is not None:
        await _move_home(session, person, home_unit_id)
    await session.flush()
    return person


async def deactivate_person(
    session: AsyncSession, policy: PolicyEnforcer, person_id: int, *, deactivated_by: str | None, reason: str
) -> Person:
    """Deactivation ends the person's memberships and every grant at once; history stays."""
    person = await get_or_fail(session, Person, person_id)
    if not person.active:
        raise ValidationFailed(f"person {person_id} is already deactivated", field="personId")
    now = utcnow()
    person.active = False
    for membership in await _current_memberships(session, person.id, now):
        membership.until = now
    await end_all_grants_of(session, policy, subject_of_person(person.id), ended_by=deactivated_by, reason=reason)
    await session.flush()
    return person


async def _refuse_taken(session: AsyncSession, person: Person) -> None:
    holder = await person_by_email(session, person.email)
    if holder is not None and holder is not person:
        raise ValidationFailed(f"email {person.email} is already used", field="email")
    if person.eth_address is not None:
        query = select(Person.id).where(Person.eth_address == person.eth_address)
        if person.id is not None:
            query = query.where(Person.id != person.id)
        if await session.scalar(query) is not None:
            raise ValidationFailed("that Ethereum address belongs to another person", field="ethAddress")


async def _move_home(session: AsyncSession, person: Person, unit_id: int) -> None:
    await get_or_fail(session, Unit, unit_id)
    now = utcnow()
    for membership in await _current_memberships(session, person.id, now):
        if membership.kind is MembershipKind.HOME:
            if membership.unit_id == unit_id:
                return
            membership.until = now
    session.add(Membership(person_id=person.id, unit_id=unit_id, kind=MembershipKind.HOME, since=now))


async def _current_memberships(session: AsyncSession, person_id: int, at: datetime) -> list[Membership]:
    query = select(Membership).where(Membership.person_id == person_id, current(Membership, at))
    return list((await session.scalars(query)).all())


# Memberships


async def add_membership(
    session: AsyncSession,
    *,
    person_id: int,
    unit_id: int,
    kind: MembershipKind,
    since: datetime | None,
    until: datetime | None,
) -> Membership:
    person = await get_or_fail(session, Person, person_id)
    await get_or_fail(session, Unit, unit_id)
    if not person.active:
        raise ValidationFailed(f"person {person_id} is deactivated", field="personId")
    since = since or utcnow()
    if until is not None and until <= since:
        raise ValidationFailed("a membership must end after it starts", field="until")
    for existing in await _overlapping_memberships(session, person_id, since, until):
        if existing.unit_id == unit_id:
            raise ValidationFailed("the person is already a member of that unit then", field="unitId")
        if kind is MembershipKind.HOME and existing.kind is MembershipKind.HOME:
            raise ValidationFailed("a person has one home unit at a time: end the current one first", field="kind")
    membership = Membership(person_id=person_id, unit_id=unit_id, kind=kind, since=since, until=until)
    session.add(membership)
    await session.flush()
    return membership


async def end_membership(session: AsyncSession, membership_id: int, at: datetime | None) -> Membership:
    membership = await get_or_fail(session, Membership, membership_id)
    at = at or utcnow()
    if at <= membership.since:
        raise ValidationFailed("a membership must end after it starts", field="at")
    if membership.until is not None and membership.until <= utcnow():
        raise ValidationFailed(f"membership {membership_id} has already ended", field="membershipId")
    membership.until = at
    await session.flush()
    return membership


async def _overlapping_memberships(
    session: AsyncSession, person_id: int, since: datetime, until: datetime | None
) -> list[Membership]:
    query = select(Membership).where(
        Membership.person_id == person_id,
        (Membership.until.is_(None)) | (Membership.until > since),
    )
    if until is not None:
        query = query.where(Membership.since < until)
    return list((await session.scalars(query)).all())
