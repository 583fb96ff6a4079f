"""Database plumbing: the declarative base, engines, sessions and the commit edge.

Services only ``flush``; the request or job edge calls :func:`commit` once, which then runs the
callbacks registered with :func:`after_commit` (cache updates, job dispatch).
"""

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from cellorg.core.errors import NotFoundError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AfterCommit = Callable[[], Awaitable[object]]
_Entity = TypeVar("_Entity")
_HOOKS_KEY = "cellorg.after_commit"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetimes are not stored: pass a timezone-aware UTC datetime"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012  (SQLAlchemy reads it as a class attribute)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite with foreign keys on and real transactions (SAVEPOINT works)."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(database_url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


class SerializedSession(AsyncSession):
    """An AsyncSession that the concurrent resolvers of one GraphQL request can share.

    GraphQL resolves sibling fields concurrently, but a session runs one statement at a time; each
    statement here waits its turn instead of failing with "concurrent operations are not permitted".
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None


def _one_at_a_time(name: str) -> None:
    method = getattr(AsyncSession, name)

    @functools.wraps(method)
    async def serialized(self: SerializedSession, *args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if self._holder is task:  # re-entered: AsyncSession.scalars calls execute
            return await method(self, *args, **kwargs)
        async with self._turn:
            self._holder = task
            try:
                return await method(self, *args, **kwargs)
            finally:
                self._holder = None

    setattr(SerializedSession, name, serialized)


for _method in ("execute", "scalar", "scalars", "get", "get_one", "flush", "refresh", "merge", "delete", "run_sync"):
    _one_at_a_time(_method)


def create_session_factory(bind: Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind, class_=SerializedSession, expire_on_commit=False, autoflush=False, **kwargs)


async def get_or_fail(session: AsyncSession, model: type[_Entity], entity_id: int, label: str | None = None) -> _Entity:
    """The row with this primary key, or the typed NotFound every caller reports."""
    entity = await session.get(model, entity_id)
    if entity is None:
        raise NotFoundError(label or model.__name__, entity_id)
    return entity


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; dropped on rollback."""
    session.info.setdefault(_HOOKS_KEY, []).append(callback)


async def commit(session: AsyncSession) -> None:
    await session.commit()
    hooks: list[AfterCommit] = session.info.pop(_HOOKS_KEY, [])
    for hook in hooks:
        await hook()


async def rollback(session: AsyncSession) -> None:
    session.info.pop(_HOOKS_KEY, None)
    await session.rollback()


@asynccontextmanager
async def atomic(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint: on error everything inside (rows and after-commit hooks) is undone."""
    hooks: list[AfterCommit] = session.info.setdefault(_HOOKS_KEY, [])
    mark = len(hooks)
    try:
        async with session.begin_nested():
            yield
    except BaseException:
        del hooks[mark:]
        raise


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """Triggers by which the database itself refuses UPDATE and DELETE on ``table`` (for migrations)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]
