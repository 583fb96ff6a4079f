"""Timed jobs of the projects area, run by rq's cron scheduler (or in-process without Redis)."""

from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.projects.service import expire_overdue_projects


async def close_overdue_projects(session: AsyncSession) -> None:
    """Close every active project past its end. Its grants stopped working at the end already."""
    await expire_overdue_projects(session, utcnow())
