"""Background jobs through a transactional outbox.

A service calls :func:`enqueue` inside its transaction; the job row commits with the data it refers
to, so no job is lost when Redis is down at commit time. After the commit the :class:`JobDispatcher`
hands pending rows to rq (Redis configured) or runs them in-process (the embedded default); rows it
could not hand over stay pending and are relayed on the next dispatch.
"""

import asyncio
import gc
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.clock import utcnow
from cellorg.core.db import Base, after_commit, commit

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[None]]
MAX_ATTEMPTS = 5
RELAY_BATCH = 200
RELAY_SECONDS = 5.0
REDIS_BACKOFF_SECONDS = 2.0
RQ_RETRY = Retry(max=MAX_ATTEMPTS - 1, interval=[5, 30, 120, 600])


class OutboxJob(Base):
    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    function: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def job_path(function: JobFunction) -> str:
    return f"{function.__module__}:{function.__qualname__}"


def resolve_job(path: str) -> JobFunction:
    module_name, _, name = path.partition(":")
    function: JobFunction = getattr(importlib.import_module(module_name), name)
    return function


async def enqueue(session: AsyncSession, function: JobFunction, **kwargs: Any) -> OutboxJob:
    """Record a job in the caller's transaction; it is dispatched after the commit.

    ``function`` is a module-level ``async def f(session, **kwargs)``; kwargs must be JSON (ids, not
    objects).
    """
    row = OutboxJob(function=job_path(function), kwargs=kwargs, created_at=utcnow(), attempts=0)
    session.add(row)
    await session.flush()
    dispatcher: JobDispatcher | None = session.info.get("job_dispatcher")
    if dispatcher is not None:
        after_commit(session, dispatcher.dispatch_pending)
    return row


async def run_outbox_job(session_factory: async_sessionmaker[AsyncSession], outbox_id: int) -> None:
    """Run one job in its own transaction and mark it completed; the same path in rq and in-process."""
    async with session_factory() as session:
        row = await session.get(OutboxJob, outbox_id)
        if row is None or row.completed_at is not None:
            return
        try:
            await resolve_job(row.function)(session, **row.kwargs)
            await session.flush()
        except Exception as error:
            await session.rollback()
            await _record_failure(session_factory, outbox_id, error)
            raise
        row.completed_at = utcnow()
        row.attempts += 1
        await commit(session)


async def _record_failure(session_factory: async_sessionmaker[AsyncSession], outbox_id: int, error: Exception) -> None:
    async with session_factory() as session:
        row = await session.get(OutboxJob, outbox_id)
        if row is not None:
            row.attempts += 1
            row.last_error = f"{type(error).__name__}: {error}"
            await session.commit()


class JobDispatcher:
    """Moves committed outbox rows to rq, or runs them in-process when no Redis is configured."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis: Redis | None,
        queue_name: str,
    ) -> None:
        self._session_factory = session_factory
        self._queue = Queue(queue_name, connection=redis) if redis is not None else None
        self._lock = asyncio.Lock()
        self._redis_down_until = 0.0

    @property
    def queue(self) -> Queue | None:
        return self._queue

    async def dispatch_pending(self) -> int:
        """Dispatch what is pending; returns how many jobs were handed over or run."""
        async with self._lock:
            pending = await self._pending_ids()
            if self._queue is None:
                return await self._run_in_process(pending)
            return await self._hand_to_rq(self._queue, pending)

    async def relay(self, *, every: float = RELAY_SECONDS, stop: Callable[[], bool] = lambda: False) -> None:
        """Keep handing over what missed Redis at commit time, until ``stop()``; a failed pass is retried."""
        while not stop():
            try:
                await self.dispatch_pending()
            except Exception:
                log.exception("outbox relay failed")
            await asyncio.sleep(every)

    async def _pending_ids(self) -> list[int]:
        async with self._session_factory() as session:
            query = (
                select(OutboxJob.id)
                .where(OutboxJob.dispatched_at.is_(None), OutboxJob.attempts < MAX_ATTEMPTS)
                .order_by(OutboxJob.id)
                .limit(RELAY_BATCH)
            )
            return list((await session.scalars(query)).all())

    async def _run_in_process(self, pending: list[int]) -> int:
        done = 0
        for outbox_id in pending:
            await self._mark_dispatched([outbox_id])
            try:
                await run_outbox_job(self._session_factory, outbox_id)
                done += 1
            except Exception:
                log.exception("job %s failed", outbox_id)
                await self._unmark_dispatched(outbox_id)
        return done

    async def _hand_to_rq(self, queue: Queue, pending: list[int]) -> int:
        handed: list[int] = []
        if time.monotonic() < self._redis_down_until:
            return 0  # Redis failed a moment ago: don't make every request wait; the relay retries
        try:
            for outbox_id in pending:
                await asyncio.to_thread(queue.enqueue, run_job, outbox_id, job_id=f"outbox-{outbox_id}", retry=RQ_RETRY)
                handed.append(outbox_id)
        except RedisError as error:
            self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
            log.warning("Redis unreachable, %d jobs stay in the outbox: %s", len(pending) - len(handed), error)
        await self._mark_dispatched(handed)
        return len(handed)

    async def _mark_dispatched(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self._session_factory() as session:
            for row in (await session.scalars(select(OutboxJob).where(OutboxJob.id.in_(ids)))).all():
                row.dispatched_at = utcnow()
            await session.commit()

    async def _unmark_dispatched(self, outbox_id: int) -> None:
        async with self._session_factory() as session:
            row = await session.get(OutboxJob, outbox_id)
            if row is not None:
                row.dispatched_at = None
                await session.commit()


PERIODIC_GROUP = "cellorg.periodic"
PERIODIC_SECONDS = 60


def periodic_jobs() -> dict[str, str]:
    """Each folder's timed jobs, declared as ``cellorg.periodic`` entry points: name -> job path."""
    return {entry_point.name: entry_point.value for entry_point in entry_points(group=PERIODIC_GROUP)}


async def run_periodic_job(session_factory: async_sessionmaker[AsyncSession], path: str) -> None:
    """Run one timed job in its own transaction: the path rq's cron and the in-process timer share."""
    async with session_factory() as session:
        await resolve_job(path)(session)
        await commit(session)


def run_periodic(path: str) -> None:
    """rq cron's entry point."""
    _in_runtime(lambda session_factory: run_periodic_job(session_factory, path))


def run_job(outbox_id: int) -> None:
    """rq's entry point: build a runtime from the settings and run the outbox job."""
    _in_runtime(lambda session_factory: run_outbox_job(session_factory, outbox_id))


def _in_runtime(job: Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]) -> None:
    from cellorg.core.runtime import Runtime

    # rq forks a work horse per job: what it inherited (modules, mappers, the schema) outlives the job, so
    # keep it out of the job's GC passes, which would rescan it on every collection of a large job
    gc.freeze()

    async def _main() -> None:
        runtime = Runtime.from_settings()
        try:
            await job(runtime.session_factory)
        finally:
            await runtime.close()

    asyncio.run(_main())
