"""The Litestar application: GraphQL at /graphql, liveness at /health, readiness at /ready."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException
from sqlalchemy import text
from strawberry.litestar import make_graphql_controller

from cellorg.core.clock import utcnow
from cellorg.core.jobs import PERIODIC_SECONDS, periodic_jobs, run_periodic_job
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Mode, Settings, get_settings
from cellorg.graphql.auth import TokenCodec
from cellorg.graphql.context import Services, build_context
from cellorg.graphql.schema import build_schema
from cellorg.ledger.appender import LedgerAppender
from cellorg.ledger.service import LedgerKeys
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import load_policy
from cellorg.permissions.watcher import PolicyWatcher

log = logging.getLogger(__name__)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready")
async def ready(request: Request[Any, Any, State]) -> dict[str, str]:
    services: Services = request.app.state.services
    try:
        async with services.runtime.session_factory() as session:
            await session.execute(text("SELECT 1"))
        if services.runtime.redis is not None:
            await asyncio.to_thread(services.runtime.redis.ping)
    except Exception as error:
        raise ServiceUnavailableException(detail=f"not ready: {type(error).__name__}") from error
    return {"status": "ready"}


async def start_services(runtime: Runtime, policy: PolicyEnforcer | None = None) -> Services:
    """Load the enforcer from the grants table and bundle what requests share."""
    policy = policy or PolicyEnforcer()
    async with runtime.session_factory() as session:
        loaded = await load_policy(session, policy)
    log.info("enforcer loaded with %d grant windows", loaded)
    return Services(
        runtime=runtime,
        policy=policy,
        tokens=TokenCodec.from_settings(runtime.settings),
        appender=LedgerAppender(runtime.session_factory, LedgerKeys.from_settings(runtime.settings)),
    )


async def _run_timed_jobs(services: Services) -> None:
    """Without Redis there is no rq cron: run the timed jobs here, on the same code path."""
    while True:
        await asyncio.sleep(PERIODIC_SECONDS)
        for path in periodic_jobs().values():
            try:
                await run_periodic_job(services.runtime.session_factory, path)
            except Exception:
                log.exception("timed job %s failed", path)


async def _sweep_enforcer(services: Services) -> None:
    """Each process drops the windows that have ended from its own enforcer (they deny already)."""
    while True:
        await asyncio.sleep(PERIODIC_SECONDS)
        swept = services.policy.sweep(utcnow())
        if swept:
            log.info("swept %d ended grant windows", swept)


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, policy: PolicyEnforcer | None = None
) -> Litestar:
    """The app; tests pass their own runtime (bound to a test transaction), ``serve`` builds one."""
    settings = settings or (runtime.settings if runtime else get_settings())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own_runtime = runtime is None
        active = runtime or Runtime.from_settings(settings)
        services = await start_services(active, policy)
        app.state.services = services
        # Everything alive now lives as long as the process: keep it out of every GC pass, which would
        # otherwise rescan the schema and mappers and add tens of milliseconds to some requests.
        gc.freeze()
        background = [asyncio.create_task(_sweep_enforcer(services))]
        watcher = None
        if settings.redis_url:
            watcher = PolicyWatcher(settings.redis_url, services.policy, active.session_factory)
            watcher.attach()
            background += [asyncio.create_task(watcher.run()), asyncio.create_task(active.dispatcher.relay())]
        else:
            background.append(asyncio.create_task(_run_timed_jobs(services)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if watcher is not None:
                await watcher.close()
            await services.appender.close()
            if own_runtime:
                await active.close()

    graphql_controller = make_graphql_controller(
        build_schema(),
        path="/graphql",
        context_getter=build_context,
        graphql_ide="graphiql" if settings.mode is Mode.DEV else None,
        allow_queries_via_get=False,
    )
    return Litestar(
        route_handlers=[graphql_controller, health, ready],
        lifespan=[lifespan],
        debug=False,
    )
