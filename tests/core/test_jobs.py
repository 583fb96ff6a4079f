"""The transactional outbox: jobs commit with their data, run in-process or through rq on real Redis."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.db import commit, rollback
from cellorg.core.jobs import JobDispatcher, OutboxJob, enqueue
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime, connect_redis
from cellorg.core.settings import Settings, get_settings
from cellorg.org.models import Dimension
from tests.conftest import REDIS_URL

REPO_ROOT = Path(__file__).parents[2]


async def add_dimension(session: AsyncSession, key: str) -> None:
    """The job under test: its effect is a row anyone can look for."""
    session.add(Dimension(key=key, name=key.title(), builtin=False))


async def always_fails(session: AsyncSession) -> None:
    msg = "boom"
    raise RuntimeError(msg)


async def dimension_exists(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(Dimension.id).where(Dimension.key == key)) is not None


async def test_in_process_job_runs_after_commit(runtime: Runtime, session: AsyncSession) -> None:
    row = await enqueue(session, add_dimension, key="after_commit")
    assert row.function == "tests.core.test_jobs:add_dimension"
    assert not await dimension_exists(session, "after_commit")
    await commit(session)
    assert await dimension_exists(session, "after_commit")
    outbox = await session.get(OutboxJob, row.id, populate_existing=True)
    assert outbox is not None and outbox.completed_at is not None and outbox.attempts == 1


async def test_rolled_back_job_never_runs(runtime: Runtime, session: AsyncSession) -> None:
    row_id = (await enqueue(session, add_dimension, key="rolled_back")).id
    await rollback(session)
    await runtime.dispatcher.dispatch_pending()
    assert not await dimension_exists(session, "rolled_back")
    assert await session.get(OutboxJob, row_id) is None


async def test_failing_job_records_the_error_and_is_retried_later(runtime: Runtime, session: AsyncSession) -> None:
    row_id = (await enqueue(session, always_fails)).id
    await commit(session)
    row = await session.get(OutboxJob, row_id, populate_existing=True)
    assert row is not None
    assert (row.attempts, row.last_error, row.dispatched_at, row.completed_at) == (1, "RuntimeError: boom", None, None)
    await runtime.dispatcher.dispatch_pending()
    row = await session.get(OutboxJob, row_id, populate_existing=True)
    assert row is not None and row.attempts == 2


async def test_job_waits_in_the_outbox_while_redis_is_down(
    runtime: Runtime, session: AsyncSession, redis_prefix: str
) -> None:
    unreachable = connect_redis("redis://127.0.0.1:1/0")
    down = JobDispatcher(runtime.session_factory, unreachable, redis_prefix)
    session.info["job_dispatcher"] = down
    row_id = (await enqueue(session, add_dimension, key="waited")).id
    await commit(session)
    row = await session.get(OutboxJob, row_id, populate_existing=True)
    assert row is not None and row.dispatched_at is None

    redis = connect_redis(REDIS_URL)
    back = JobDispatcher(runtime.session_factory, redis, redis_prefix)
    one_pass = iter([False, True])
    await back.relay(every=0, stop=lambda: next(one_pass))  # what the API process and the worker run
    row = await session.get(OutboxJob, row_id, populate_existing=True)
    assert row is not None and row.dispatched_at is not None
    job = Queue(redis_prefix, connection=redis).fetch_job(f"outbox-{row_id}")
    assert job is not None
    assert (job.func_name, job.args) == ("cellorg.core.jobs.run_job", (row_id,))
    redis.close()


async def test_rq_worker_runs_the_job_against_the_configured_database(
    tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cellorg worker`` picks the job from Redis and runs it on the database the settings name."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    await asyncio.to_thread(upgrade, url)
    monkeypatch.setenv("CELLORG_DATABASE_URL", url)
    monkeypatch.setenv("CELLORG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("CELLORG_QUEUE_NAME", redis_prefix)
    get_settings.cache_clear()
    runtime = Runtime.from_settings(Settings())
    try:
        async with runtime.session_factory() as session:
            await enqueue(session, add_dimension, key="by_worker")
            await commit(session)
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from cellorg.core.cli import main; main()",
            "worker",
            "--burst",
            cwd=REPO_ROOT,
            env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
        )
        assert await asyncio.wait_for(worker.wait(), timeout=60) == 0
        async with runtime.session_factory() as session:
            assert await dimension_exists(session, "by_worker")
            row = await session.scalar(select(OutboxJob).where(OutboxJob.function.endswith("add_dimension")))
            assert row is not None and row.completed_at is not None
    finally:
        await runtime.close()
        get_settings.cache_clear()
