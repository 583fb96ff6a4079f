"""Granting and ending roles. Services flush; the enforcer learns of a change after the commit."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import after_commit
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.permissions.catalogue import ADMIN_ROLE, ORG_SCOPE, ROLES, role_named, scope_kind
from cellorg.permissions.enforcer import PolicyChange, PolicyEnforcer
from cellorg.permissions.models import Grant
from cellorg.permissions.repository import enforceable_windows, grants_of, window_of


async def grant_role(
    session: AsyncSession,
    policy: PolicyEnforcer,
    *,
    subject: str,
    role: str,
    scope: str = ORG_SCOPE,
    granted_by: str | None,
    reason: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Grant:
    now = utcnow()
    valid_from = valid_from or now
    kind = scope_kind(scope)
    if kind is None:
        raise ValidationFailed(f"{scope!r} is not a scope", field="scope")
    if role_named(role, kind) is None:
        if any(r.name == role for r in ROLES):
            raise ValidationFailed(f"role {role!r} cannot be granted in scope {scope!r}", field="scope")
        raise ValidationFailed(f"role {role!r} does not exist", field="role")
    if valid_until is not None and valid_until <= valid_from:
        raise ValidationFailed("a grant must end after it starts", field="validUntil")
    if await _overlapping_grant(session, subject, role, scope, valid_from, valid_until):
        raise ValidationFailed(f"{subject} already holds {role} in {scope} for that time", field="role")
    grant = Grant(
        subject=subject,
        role=role,
        scope=scope,
        valid_from=valid_from,
        valid_until=valid_until,
        granted_by=granted_by,
        reason=reason,
        created_at=now,
    )
    session.add(grant)
    await session.flush()
    _after_commit_apply(session, policy, PolicyChange(upserted=(window_of(grant),)))
    return grant


async def revoke_grant(
    session: AsyncSession, policy: PolicyEnforcer, grant_id: int, *, revoked_by: str, reason: str
) -> Grant:
    grant = await session.get(Grant, grant_id)
    if grant is None:
        raise NotFoundError("Grant", grant_id)
    now = utcnow()
    if grant.revoked_at is not None or (grant.valid_until is not None and grant.valid_until <= now):
        raise ValidationFailed(f"grant {grant_id} has already ended", field="grantId")
    if grant.role == ADMIN_ROLE and await _live_admin_count(session, now) <= 1:
        raise ValidationFailed("the last admin cannot be revoked: grant another admin first", field="grantId")
    await end_grants(session, policy, [grant], at=now, ended_by=revoked_by, reason=reason)
    return grant


async def end_grants(
    session: AsyncSession,
    policy: PolicyEnforcer,
    grants: Sequence[Grant],
    *,
    at: datetime,
    ended_by: str | None,
    reason: str,
) -> None:
    """End ``grants`` at ``at``; the rows stay, with who ended them and why."""
    for grant in grants:
        grant.revoked_at = at
        grant.revoked_by = ended_by
        grant.revoke_reason = reason
    await session.flush()
    _after_commit_apply(session, policy, PolicyChange(discarded=tuple(window_of(grant) for grant in grants)))


async def move_grant_ends(
    session: AsyncSession, policy: PolicyEnforcer, grants: Sequence[Grant], valid_until: datetime
) -> None:
    """Give ``grants`` a new planned end (a project was extended); the enforcer follows after commit."""
    for grant in grants:
        grant.valid_until = valid_until
    await session.flush()
    _after_commit_apply(session, policy, PolicyChange(upserted=tuple(window_of(grant) for grant in grants)))


def _after_commit_apply(session: AsyncSession, policy: PolicyEnforcer, change: PolicyChange) -> None:
    """The enforcer (and, through its publisher, every other process) learns of a change once it is committed."""

    async def apply() -> None:
        await policy.apply(change)

    after_commit(session, apply)


async def end_all_grants_of(
    session: AsyncSession, policy: PolicyEnforcer, subject: str, *, ended_by: str | None, reason: str
) -> list[Grant]:
    now = utcnow()
    grants = [
        g for g in await grants_of(session, subject=subject) if g.effective_until is None or g.effective_until > now
    ]
    await end_grants(session, policy, grants, at=now, ended_by=ended_by, reason=reason)
    return grants


async def load_policy(session: AsyncSession, policy: PolicyEnforcer) -> int:
    """Rebuild the enforcer from the grants table; returns the number of windows loaded."""
    windows = await enforceable_windows(session, utcnow())
    policy.load(windows)
    return len(windows)


async def _overlapping_grant(
    session: AsyncSession, subject: str, role: str, scope: str, start: datetime, end: datetime | None
) -> bool:
    for grant in await grants_of(session, subject=subject, scope=scope):
        grant_end = grant.effective_until
        if grant.role == role and (end is None or grant.valid_from < end) and (grant_end is None or start < grant_end):
            return True
    return False


async def _live_admin_count(session: AsyncSession, at: datetime) -> int:
    query = (
        select(func.count())
        .select_from(Grant)
        .where(
            Grant.role == ADMIN_ROLE,
            Grant.scope == ORG_SCOPE,
            Grant.valid_from <= at,
            Grant.revoked_at.is_(None),
            (Grant.valid_until.is_(None)) | (Grant.valid_until > at),
        )
    )
    return int(await session.scalar(query) or 0)
