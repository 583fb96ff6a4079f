"""Timed jobs: overdue projects close by themselves; rq's cron enqueues them; ended windows are swept."""

from datetime import timedelta

from rq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.cli import cron_scheduler
from cellorg.core.clock import clock
from cellorg.core.jobs import periodic_jobs, run_periodic_job
from cellorg.core.runtime import Runtime, connect_redis
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service
from cellorg.projects.models import Project, ProjectStatus
from cellorg.projects.repository import current_members
from tests.conftest import REDIS_URL, OrgBuilder
from tests.projects.conftest import PROJECT_DAYS, SquadBuilder

CLOSE_OVERDUE = "cellorg.projects.jobs:close_overdue_projects"


async def test_overdue_project_closes_as_of_its_end(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, runtime: Runtime, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    await squads.join(squad, "member")
    await service.activate_project(session, squad.project.id)
    await build.commit()
    end = frozen_now + timedelta(days=PROJECT_DAYS)
    clock.freeze(end - timedelta(seconds=1))
    await run_periodic_job(runtime.session_factory, CLOSE_OVERDUE)
    assert (await session.get(Project, squad.project.id, populate_existing=True)).status is ProjectStatus.ACTIVE  # type: ignore[union-attr]
    clock.freeze(end + timedelta(minutes=1))
    await run_periodic_job(runtime.session_factory, CLOSE_OVERDUE)
    project = await session.get(Project, squad.project.id, populate_existing=True)
    assert project is not None
    assert (project.status, project.closed_at, project.outcome) == (ProjectStatus.CLOSED, end, None)
    assert await current_members(session, project.id) == []


def test_rq_cron_enqueues_every_timed_job(redis_prefix: str) -> None:
    checkpoint = "cellorg.ledger.service:checkpoint_now"
    assert periodic_jobs() == {"close_overdue_projects": CLOSE_OVERDUE, "checkpoint_ledger": checkpoint}
    redis = connect_redis(REDIS_URL)
    enqueued = cron_scheduler(redis, redis_prefix).enqueue_jobs()
    assert sorted(job.name for job in enqueued) == ["checkpoint_ledger", "close_overdue_projects"]
    jobs = Queue(redis_prefix, connection=redis).get_jobs()
    assert sorted((job.func_name, job.args) for job in jobs) == [
        ("cellorg.core.jobs.run_periodic", (checkpoint,)),
        ("cellorg.core.jobs.run_periodic", (CLOSE_OVERDUE,)),
    ]
    redis.close()


async def test_sweep_drops_only_ended_windows(
    squads: SquadBuilder, build: OrgBuilder, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    member = await squads.join(squad, "member")
    await build.commit()
    links = policy.link_count
    assert policy.sweep(frozen_now + timedelta(days=1)) == 0
    assert policy.sweep(frozen_now + timedelta(days=PROJECT_DAYS)) == 2  # the owner's lead grant and the member's
    assert policy.link_count == links - 2
    assert not policy.enforce(f"person:{member.id}", squad.scope, "squad", "read")
