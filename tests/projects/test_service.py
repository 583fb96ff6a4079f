"""Project lifecycle and staffing rules; each refusal names the problem."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service
from cellorg.projects.models import Outcome, ProjectStatus
from cellorg.projects.repository import allocated_pct, current_members
from tests.conftest import OrgBuilder
from tests.projects.conftest import SquadBuilder


async def test_lifecycle_follows_only_legal_transitions(
    squads: SquadBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    project_id = squad.project.id
    with pytest.raises(ValidationFailed, match="cannot move a project from draft to archived"):
        await service.archive_project(session, project_id)
    with pytest.raises(ValidationFailed, match="a draft project can only be cancelled"):
        await service.close_project(session, policy, project_id, outcome=Outcome.WON, closed_by=None)
    assert (await service.activate_project(session, project_id)).status is ProjectStatus.ACTIVE
    with pytest.raises(ValidationFailed, match="cannot move a project from active to active"):
        await service.activate_project(session, project_id)
    closed = await service.close_project(session, policy, project_id, outcome=Outcome.WON, closed_by=None)
    assert (closed.status, closed.outcome, closed.closed_at) == (ProjectStatus.CLOSED, Outcome.WON, frozen_now)
    with pytest.raises(ValidationFailed, match="cannot be extended"):
        await service.extend_project(session, policy, project_id, frozen_now + timedelta(days=90))
    assert (await service.archive_project(session, project_id)).status is ProjectStatus.ARCHIVED


async def test_a_project_must_end_after_it_starts(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    owner = await build.person()
    with pytest.raises(ValidationFailed, match="end after it starts") as caught:
        await service.create_project(
            session,
            policy,
            name="Backwards",
            description="",
            owner_id=owner.id,
            starts_at=frozen_now,
            ends_at=frozen_now - timedelta(days=1),
            customer_unit_id=None,
            product_line_unit_id=None,
        )
    assert caught.value.field == "endsAt"


async def test_customer_must_be_a_customer_unit(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    owner = await build.person()
    region = await build.unit("East China")
    with pytest.raises(ValidationFailed, match="is not a customer unit"):
        await service.create_project(
            session,
            policy,
            name="Bid",
            description="",
            owner_id=owner.id,
            starts_at=frozen_now,
            ends_at=frozen_now + timedelta(days=3),
            customer_unit_id=region,
            product_line_unit_id=None,
        )


async def test_staffing_refusals(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, allocation=60)
    person = await squads.join(squad, "member")
    with pytest.raises(ValidationFailed, match="already in this squad"):
        await squads.join(squad, "member", person)
    other = await squads.squad(now=frozen_now, allocation=60)
    with pytest.raises(ValidationFailed, match="is 60% allocated: 60% more exceeds 100%"):
        await squads.join(other, "member", person)
    assert await allocated_pct(session, person.id) == 60
    with pytest.raises(ValidationFailed, match="project role 'owner' does not exist"):
        await service.add_slot(session, squad.project.id, title="X", role="owner", headcount=1, allocation_pct=10)
    with pytest.raises(NotFoundError, match="SquadSlot 999999"):
        await service.add_member(session, policy, slot_id=999999, person_id=person.id, added_by=None)


async def test_a_full_slot_takes_nobody_else(squads: SquadBuilder, session: AsyncSession, frozen_now) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, allocation=10)
    for _ in range(3):
        await squads.join(squad, "member")
    with pytest.raises(ValidationFailed, match="is full"):
        await squads.join(squad, "member")


async def test_a_closed_project_takes_no_members_and_its_squad_has_left(
    squads: SquadBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    person = await squads.join(squad, "member")
    await service.activate_project(session, squad.project.id)
    clock.advance(timedelta(days=19))
    await service.close_project(session, policy, squad.project.id, outcome=Outcome.WON, closed_by=None)
    assert await current_members(session, squad.project.id) == []
    assert await allocated_pct(session, person.id) == 0
    with pytest.raises(ValidationFailed, match="the project is closed: it takes no new members"):
        await squads.join(squad, "member")


async def test_the_allocation_cap_is_configurable(
    squads: SquadBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    first = await squads.squad(now=frozen_now, allocation=80)
    second = await squads.squad(now=frozen_now, allocation=80)
    person = await squads.join(first, "member")
    generous = service.StaffingRules(max_allocation_pct=160)
    await service.add_member(
        session, policy, slot_id=second.slots["member"].id, person_id=person.id, added_by=None, rules=generous
    )
    assert await allocated_pct(session, person.id) == 160
