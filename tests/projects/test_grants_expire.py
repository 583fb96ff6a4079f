"""Grants that live exactly as long as the project: allowed at end - 1 s, denied at end, for every role."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.permissions.catalogue import ROLES, ScopeKind
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import load_policy
from cellorg.projects import service
from cellorg.projects.models import Outcome
from cellorg.projects.repository import current_members
from tests.conftest import OrgBuilder
from tests.projects.conftest import PROJECT_DAYS, SquadBuilder

PROJECT_ROLES = [role for role in ROLES if role.scope_kind is ScopeKind.PROJECT]


@pytest.mark.parametrize("role", PROJECT_ROLES, ids=lambda role: role.name)
async def test_every_permission_of_the_role_ends_with_the_project(
    squads: SquadBuilder, build: OrgBuilder, policy: PolicyEnforcer, frozen_now, role
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, roles=(role.name,))
    person = await squads.join(squad, role.name)
    await build.commit()
    subject = f"person:{person.id}"
    end = frozen_now + timedelta(days=PROJECT_DAYS)
    clock.freeze(end - timedelta(seconds=1))
    assert all(policy.enforce(subject, squad.scope, p.obj, p.action) for p in role.permissions)
    clock.freeze(end)
    assert not any(policy.enforce(subject, squad.scope, p.obj, p.action) for p in role.permissions)


@pytest.mark.parametrize("role", PROJECT_ROLES, ids=lambda role: role.name)
async def test_early_close_ends_every_role_at_that_second_and_survives_a_reload(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now, role
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, roles=(role.name,))
    person = await squads.join(squad, role.name)
    await build.commit()
    subject = f"person:{person.id}"
    some = next(iter(role.permissions))
    clock.freeze(frozen_now + timedelta(days=19))
    assert policy.enforce(subject, squad.scope, some.obj, some.action)
    await service.activate_project(session, squad.project.id)
    await service.close_project(session, policy, squad.project.id, outcome=Outcome.WON, closed_by=None)
    await build.commit()
    assert not policy.enforce(subject, squad.scope, some.obj, some.action)
    clock.freeze(frozen_now + timedelta(days=20))
    reloaded = PolicyEnforcer()
    await load_policy(session, reloaded)
    assert not reloaded.enforce(subject, squad.scope, some.obj, some.action)


async def test_extending_the_project_extends_the_grants(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    person = await squads.join(squad, "member")
    await build.commit()
    old_end = frozen_now + timedelta(days=PROJECT_DAYS)
    await service.extend_project(session, policy, squad.project.id, old_end + timedelta(days=10))
    await build.commit()
    clock.freeze(old_end + timedelta(days=5))
    assert policy.enforce(f"person:{person.id}", squad.scope, "contributions", "write")
    assert policy.enforce(f"person:{squad.owner.id}", squad.scope, "squad", "write")
    clock.freeze(old_end + timedelta(days=10))
    assert not policy.enforce(f"person:{person.id}", squad.scope, "contributions", "write")


async def test_a_grant_in_one_project_gives_nothing_in_another(
    squads: SquadBuilder, build: OrgBuilder, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    first = await squads.squad(now=frozen_now, roles=("lead",))
    second = await squads.squad(now=frozen_now)
    person = await squads.join(first, "lead")
    await build.commit()
    assert policy.enforce(f"person:{person.id}", first.scope, "squad", "write")
    assert not policy.enforce(f"person:{person.id}", second.scope, "squad", "read")
    assert not policy.enforce(f"person:{person.id}", "org", "squad", "read")


async def test_leaving_and_changing_role_end_the_old_grant(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, roles=("member", "observer"))
    person = await squads.join(squad, "member")
    await build.commit()
    [joined] = [m for m in await current_members(session, squad.project.id) if m.person_id == person.id]
    changed = await service.change_role(session, policy, joined.id, role="observer", changed_by=None)
    await build.commit()
    subject = f"person:{person.id}"
    assert not policy.enforce(subject, squad.scope, "contributions", "write")
    assert policy.enforce(subject, squad.scope, "decisions", "read")
    await service.remove_member(session, policy, changed.id, removed_by=None, reason="moved to another bid")
    await build.commit()
    assert not policy.enforce(subject, squad.scope, "decisions", "read")
