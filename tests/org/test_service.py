"""The org graph's rules, through the service layer, on PostgreSQL and SQLite."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.org import repository as repo
from cellorg.org import service
from cellorg.org.models import Membership, MembershipKind, Person, Unit
from cellorg.permissions.enforcer import PolicyEnforcer
from tests.conftest import OrgBuilder


async def subtree_names(session: AsyncSession, unit_id: int) -> list[str]:
    unit = await session.get(Unit, unit_id)
    assert unit is not None
    return sorted(s.name for s in await repo.unit_subtree(session, unit.id, unit.path))


async def test_subtree_lists_every_descendant_with_depth(build: OrgBuilder, session: AsyncSession) -> None:
    china = await build.unit("China")
    east = await build.unit("East China", parent=china)
    shanghai = await build.unit("Shanghai", parent=east)
    await build.unit("South China", parent=china)
    await build.unit("Europe")
    unit = await session.get(Unit, china)
    assert unit is not None
    nodes = {n.name: (n.depth, n.parent_id) for n in await repo.unit_subtree(session, unit.id, unit.path)}
    assert nodes == {"East China": (1, china), "Shanghai": (2, east), "South China": (1, china)}
    assert await subtree_names(session, shanghai) == []


async def test_subtree_prefix_does_not_match_ids_sharing_digits(build: OrgBuilder, session: AsyncSession) -> None:
    """Unit 1's subtree must not include unit 12's children: the path range stops at '/1/'."""
    roots = [await build.unit(f"Root {i}") for i in range(12)]
    child = await build.unit("Child of last", parent=roots[-1])
    for root in roots[:-1]:
        assert child not in {s.id for s in await repo.unit_subtree(session, root, "/")}


async def test_move_rewrites_the_whole_subtree(build: OrgBuilder, session: AsyncSession) -> None:
    asia = await build.unit("Asia")
    europe = await build.unit("Europe")
    china = await build.unit("China", parent=asia)
    east = await build.unit("East China", parent=china)
    await build.unit("Shanghai", parent=east)
    await service.move_unit(session, china, europe)
    assert await subtree_names(session, asia) == []
    assert await subtree_names(session, europe) == ["China", "East China", "Shanghai"]
    moved = await session.get(Unit, east)
    assert moved is not None
    await session.refresh(moved)
    assert moved.ancestor_ids == [europe, china]


async def test_move_under_own_descendant_is_refused_and_changes_nothing(
    build: OrgBuilder, session: AsyncSession
) -> None:
    china = await build.unit("China")
    east = await build.unit("East China", parent=china)
    with pytest.raises(ValidationFailed, match="under itself or its own descendant") as caught:
        await service.move_unit(session, china, east)
    assert caught.value.field == "parentId"
    with pytest.raises(ValidationFailed, match="under itself"):
        await service.move_unit(session, china, china)
    assert await subtree_names(session, china) == ["East China"]


async def test_move_into_another_dimension_is_refused(build: OrgBuilder, session: AsyncSession) -> None:
    region = await build.unit("China")
    sales = await build.unit("Sales", dimension="function")
    with pytest.raises(ValidationFailed, match="another dimension"):
        await service.move_unit(session, region, sales)


async def test_unknown_parent_is_not_found(build: OrgBuilder, session: AsyncSession) -> None:
    with pytest.raises(NotFoundError, match="Unit 999999 does not exist"):
        await service.create_unit(session, dimension_id=await build.dimension_id("region"), name="X", parent_id=999999)


async def test_sibling_names_are_unique_per_parent(build: OrgBuilder, session: AsyncSession) -> None:
    china = await build.unit("China")
    await build.unit("East", parent=china)
    with pytest.raises(ValidationFailed, match="'East' already exists"):
        await build.unit("East", parent=china)
    assert await build.unit("East") != china  # the same name under another parent is fine


async def test_duplicate_email_is_refused_case_insensitively(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await service.create_person(session, policy, name="A", email="a@x.example", home_unit_id=None, created_by=None)
    with pytest.raises(ValidationFailed, match="already used") as caught:
        await service.create_person(session, policy, name="B", email=" A@X.example", home_unit_id=None, created_by=None)
    assert caught.value.field == "email"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("email", {"email": "no-at-sign"}),
        ("name", {"name": "   "}),
        ("ethAddress", {"eth_address": "0x123"}),
    ],
)
async def test_person_input_is_validated(
    session: AsyncSession, policy: PolicyEnforcer, field: str, kwargs: dict
) -> None:  # type: ignore[type-arg]
    arguments = {"name": "Valid", "email": "valid@x.example", "home_unit_id": None, "created_by": None} | kwargs
    with pytest.raises(ValidationFailed) as caught:
        await service.create_person(session, policy, **arguments)
    assert caught.value.field == field


async def test_changing_home_unit_keeps_history(build: OrgBuilder, session: AsyncSession, frozen_now) -> None:  # type: ignore[no-untyped-def]
    east = await build.unit("East China")
    south = await build.unit("South China")
    person = await build.person(home_unit=east)
    clock.advance(timedelta(days=30))
    await service.update_person(session, person.id, home_unit_id=south)
    homes = (
        await session.scalars(select(Membership).where(Membership.person_id == person.id).order_by(Membership.since))
    ).all()
    assert [(m.unit_id, m.since, m.until) for m in homes] == [
        (east, frozen_now, frozen_now + timedelta(days=30)),
        (south, frozen_now + timedelta(days=30), None),
    ]
    assert (await repo.home_units_of(session, [person.id], clock.now()))[person.id].id == south


async def test_membership_must_end_after_it_starts(build: OrgBuilder, session: AsyncSession) -> None:
    unit = await build.unit("Sales", dimension="function")
    person = await build.person()
    now = clock.now()
    with pytest.raises(ValidationFailed, match="end after it starts"):
        await service.add_membership(
            session, person_id=person.id, unit_id=unit, kind=MembershipKind.MATRIX, since=now, until=now
        )


async def test_second_home_and_duplicate_membership_are_refused(build: OrgBuilder, session: AsyncSession) -> None:
    east = await build.unit("East China")
    south = await build.unit("South China")
    person = await build.person(home_unit=east)
    with pytest.raises(ValidationFailed, match="one home unit at a time"):
        await service.add_membership(
            session, person_id=person.id, unit_id=south, kind=MembershipKind.HOME, since=None, until=None
        )
    with pytest.raises(ValidationFailed, match="already a member"):
        await service.add_membership(
            session, person_id=person.id, unit_id=east, kind=MembershipKind.MATRIX, since=None, until=None
        )


async def test_people_filters(build: OrgBuilder, session: AsyncSession) -> None:
    china = await build.unit("China")
    east = await build.unit("East China", parent=china)
    sales = await build.unit("Sales", dimension="function")
    wang = await build.person("Wang Lei", home_unit=sales)
    await service.add_membership(
        session, person_id=wang.id, unit_id=east, kind=MembershipKind.MATRIX, since=None, until=None
    )
    await build.person("Chen Jing", home_unit=china)
    await build.person("Zhao Min", home_unit=sales)
    now = clock.now()

    async def names(people_filter: repo.PeopleFilter, unit: int | None = None) -> list[str]:
        unit_row = await session.get(Unit, unit) if unit else None
        rows = await repo.people_page(session, people_filter, unit=unit_row, at=now, after=None, limit=50)
        return [p.name for p, _ in rows if p.email.endswith("test.cellorg.example")]

    assert await names(repo.PeopleFilter(unit_id=china), china) == ["Chen Jing"]
    assert await names(repo.PeopleFilter(unit_id=china, include_descendants=True), china) == ["Chen Jing", "Wang Lei"]
    assert await names(repo.PeopleFilter(dimension_id=await build.dimension_id("function"))) == ["Wang Lei", "Zhao Min"]
    assert await names(repo.PeopleFilter(name_contains="LEI")) == ["Wang Lei"]


async def test_deactivation_ends_memberships_and_grants(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    unit = await build.unit("East China")
    person = await build.person(home_unit=unit, role="finance")
    await build.commit()
    assert policy.enforce(f"person:{person.id}", "org", "org", "read")
    await service.deactivate_person(session, policy, person.id, deactivated_by=None, reason="left the company")
    await build.commit()
    assert not policy.enforce(f"person:{person.id}", "org", "org", "read")
    refreshed = await session.get(Person, person.id)
    assert refreshed is not None and refreshed.active is False
    assert await repo.home_units_of(session, [person.id], clock.now()) == {}
    with pytest.raises(ValidationFailed, match="already deactivated"):
        await service.deactivate_person(session, policy, person.id, deactivated_by=None, reason="again")
