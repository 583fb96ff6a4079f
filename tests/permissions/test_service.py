"""Granting and ending roles: validation, history, and the enforcer following each commit."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.core.db import rollback
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.permissions import service
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.models import Grant
from cellorg.permissions.repository import grants_of
from tests.conftest import OrgBuilder


async def test_enforcer_learns_of_a_grant_only_after_commit(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    subject = f"person:{(await build.person()).id}"
    await build.commit()
    await service.grant_role(session, policy, subject=subject, role="auditor", granted_by=None, reason="r")
    assert not policy.enforce(subject, "org", "grants", "read")
    await rollback(session)
    assert not policy.enforce(subject, "org", "grants", "read")
    await service.grant_role(session, policy, subject=subject, role="auditor", granted_by=None, reason="r")
    await build.commit()
    assert policy.enforce(subject, "org", "grants", "read")


@pytest.mark.parametrize(
    ("role", "scope", "message"),
    [
        ("owner", "org", "role 'owner' does not exist"),
        ("admin", "project:3", "cannot be granted in scope 'project:3'"),
        ("admin", "team:3", "'team:3' is not a scope"),
        ("lead", "org", "role 'lead' cannot be granted in scope 'org'"),
    ],
)
async def test_unknown_role_or_wrong_scope_is_refused(
    session: AsyncSession, policy: PolicyEnforcer, role: str, scope: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        await service.grant_role(
            session, policy, subject="person:1", role=role, scope=scope, granted_by=None, reason=""
        )


async def test_overlapping_grant_of_the_same_role_is_refused(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    person = await build.person(role="finance")
    with pytest.raises(ValidationFailed, match="already holds finance"):
        await service.grant_role(
            session, policy, subject=f"person:{person.id}", role="finance", granted_by=None, reason=""
        )


async def test_revocation_keeps_the_row_with_who_and_why(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    admin = await build.person(role="admin")
    other_admin = await build.person(role="admin")
    await build.commit()
    [grant] = [g for g in await grants_of(session, subject=f"person:{admin.id}") if g.role == "admin"]
    clock.advance(timedelta(hours=1))
    await service.revoke_grant(session, policy, grant.id, revoked_by=f"person:{other_admin.id}", reason="moved on")
    await build.commit()
    row = await session.get(Grant, grant.id)
    assert row is not None
    assert (row.revoked_at, row.revoked_by, row.revoke_reason) == (
        frozen_now + timedelta(hours=1),
        f"person:{other_admin.id}",
        "moved on",
    )
    assert not policy.enforce(f"person:{admin.id}", "org", "org", "write")
    with pytest.raises(ValidationFailed, match="already ended"):
        await service.revoke_grant(session, policy, grant.id, revoked_by="x", reason="again")


async def test_the_last_admin_cannot_be_revoked(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    for grant in await grants_of(session, live_at=clock.now()):
        if grant.role == "admin":
            await service.end_grants(session, policy, [grant], at=clock.now(), ended_by=None, reason="test setup")
    admin = await build.person(role="admin")
    [grant] = [g for g in await grants_of(session, subject=f"person:{admin.id}") if g.role == "admin"]
    with pytest.raises(ValidationFailed, match="last admin"):
        await service.revoke_grant(session, policy, grant.id, revoked_by="x", reason="oops")


async def test_revoking_an_unknown_grant_is_not_found(session: AsyncSession, policy: PolicyEnforcer) -> None:
    with pytest.raises(NotFoundError, match="Grant 424242"):
        await service.revoke_grant(session, policy, 424242, revoked_by="x", reason="")


async def test_policy_reload_restores_live_and_future_grants_only(
    build: OrgBuilder, session: AsyncSession, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    policy = PolicyEnforcer()
    person = await build.person()
    subject = f"person:{person.id}"
    await service.grant_role(
        session,
        policy,
        subject=subject,
        role="auditor",
        granted_by=None,
        reason="",
        valid_until=frozen_now + timedelta(days=1),
    )
    await service.grant_role(
        session,
        policy,
        subject=subject,
        role="finance",
        granted_by=None,
        reason="",
        valid_from=frozen_now + timedelta(days=2),
    )
    await build.commit()
    clock.advance(timedelta(days=1))
    fresh = PolicyEnforcer()
    await service.load_policy(session, fresh)
    assert not fresh.enforce(subject, "org", "grants", "read")
    assert fresh.enforce(subject, "org", "org", "read")  # member
    clock.advance(timedelta(days=1))
    assert fresh.enforce(subject, "org", "org", "read")
    assert {w for w in fresh._windows if w[0] == subject} == {
        (subject, "role:org:member", "org"),
        (subject, "role:org:finance", "org"),
    }
