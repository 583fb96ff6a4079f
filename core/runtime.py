"""The one place that wires settings to engines, sessions, Redis and the job dispatcher."""

from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cellorg.core.db import create_engine, create_session_factory
from cellorg.core.jobs import JobDispatcher
from cellorg.core.settings import Settings, get_settings

REDIS_TIMEOUT_SECONDS = 2.0
REDIS_CONNECT_TIMEOUT_SECONDS = 0.5


def connect_redis(url: str) -> Redis:
    """Fail fast: a request that finds Redis down leaves its jobs in the outbox rather than waiting."""
    return Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
    )


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine | None
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis | None
    # Read-only GraphQL operations: autocommit on PostgreSQL, which saves BEGIN and COMMIT round
    # trips and sees what READ COMMITTED would (a fresh snapshot per statement).
    read_session_factory: async_sessionmaker[AsyncSession] | None = None
    dispatcher: JobDispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = JobDispatcher(self.session_factory, self.redis, self.settings.queue_name)
        self.session_factory.configure(info={"job_dispatcher": self.dispatcher})

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **engine_kwargs: Any) -> "Runtime":
        settings = settings or get_settings()
        engine = create_engine(settings.database_url, **engine_kwargs)
        redis = connect_redis(settings.redis_url) if settings.redis_url else None
        reads = None
        if engine.dialect.name == "postgresql":
            reads = create_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
        return cls(settings, engine, create_session_factory(engine), redis, reads)

    def open_session(self, *, read_only: bool = False) -> AsyncSession:
        factory = self.read_session_factory if read_only and self.read_session_factory else self.session_factory
        return factory()

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
        if self.redis is not None:
            self.redis.close()
