from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.permissions.enforcer import GrantWindow
from cellorg.permissions.models import Grant, effective_end


def window_of(grant: Grant) -> GrantWindow:
    return GrantWindow(grant.id, grant.subject, grant.role, grant.scope, grant.valid_from, grant.effective_until)


async def enforceable_windows(session: AsyncSession, at: datetime) -> list[GrantWindow]:
    """Grants that work now or will later: everything the enforcer must know."""
    query = select(
        Grant.id, Grant.subject, Grant.role, Grant.scope, Grant.valid_from, Grant.valid_until, Grant.revoked_at
    ).where(
        Grant.revoked_at.is_(None) | (Grant.revoked_at > at),
        or_(Grant.valid_until.is_(None), Grant.valid_until > at),
    )
    windows = []
    for grant_id, subject, role, scope, valid_from, valid_until, revoked_at in (await session.execute(query)).all():
        windows.append(GrantWindow(grant_id, subject, role, scope, valid_from, effective_end(valid_until, revoked_at)))
    return windows


async def grants_of(
    session: AsyncSession, *, subject: str | None = None, scope: str | None = None, live_at: datetime | None = None
) -> Sequence[Grant]:
    """Grants by subject and/or scope, newest first; ``live_at`` keeps only those working then."""
    query = select(Grant).order_by(Grant.id.desc())
    if subject is not None:
        query = query.where(Grant.subject == subject)
    if scope is not None:
        query = query.where(Grant.scope == scope)
    if live_at is not None:
        query = query.where(
            Grant.valid_from <= live_at,
            or_(Grant.valid_until.is_(None), Grant.valid_until > live_at),
            or_(Grant.revoked_at.is_(None), Grant.revoked_at > live_at),
        )
    return (await session.scalars(query)).all()
