"""Shared fixtures: real PostgreSQL and SQLite, migrated once; every test inside a rolled-back transaction.

Set CELLORG_TEST_POSTGRES_URL / CELLORG_TEST_REDIS_URL to point elsewhere; the defaults are the local
services that `.ci/run` starts.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from cellorg.core.clock import clock
from cellorg.core.db import commit, create_engine, create_session_factory
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.graphql.app import create_app, start_services
from cellorg.graphql.auth import TokenCodec
from cellorg.org import service as org
from cellorg.org.models import Dimension, Person
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role

pytest_plugins = ["tests.chain_node"]  # anvil for the ledger and the demo

POSTGRES_URL = os.environ.get("CELLORG_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/cellorg_test")
REDIS_URL = os.environ.get("CELLORG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_SECRET = "test-secret-for-cellorg-tests-0123456789"


async def recreate_postgres_database(url: str) -> None:
    """Drop and create the test database, connecting to the server's maintenance database."""
    name = url.rsplit("/", 1)[1]
    admin_dsn = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'cellorg.db'}"


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    url = POSTGRES_URL if request.param == "postgresql" else sqlite_url
    if request.param == "postgresql":
        await recreate_postgres_database(url)
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One outer transaction per test, rolled back at the end; the code under test commits savepoints."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, token_secret=TEST_SECRET)


@pytest.fixture
def runtime(settings: Settings, connection: AsyncConnection) -> Runtime:
    factory = create_session_factory(connection, join_transaction_mode="create_savepoint")
    return Runtime(settings=settings, engine=None, session_factory=factory, redis=None)


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.session_factory() as session:
        yield session


@pytest.fixture
def policy() -> PolicyEnforcer:
    return PolicyEnforcer()


@pytest.fixture(autouse=True)
def _real_clock_after_each_test() -> Iterator[None]:
    yield
    clock.unfreeze()


@pytest.fixture
def frozen_now() -> datetime:
    now = datetime(2026, 12, 4, 9, 0, 0, tzinfo=UTC)
    clock.freeze(now)
    return now


class StatementCounter:
    """Counts the SQL a request sends, leaving out the test harness's SAVEPOINT bookkeeping."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine.sync_engine, "before_cursor_execute", counter)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A per-test queue name; its keys are deleted afterwards."""
    prefix = f"cellorg-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    for key in redis.scan_iter(f"*{prefix}*"):
        redis.delete(key)
    redis.close()


# The API through HTTP, with real tokens


class Api:
    """Drives /graphql like a client would: real bearer tokens, JSON over HTTP."""

    def __init__(self, client: httpx.AsyncClient, tokens: TokenCodec) -> None:
        self.client = client
        self.tokens = tokens

    def token_for(self, person: Person | int) -> str:
        return self.tokens.issue(person if isinstance(person, int) else person.id)

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def query(self, query: str, variables: dict[str, Any] | None = None, *, as_: Person | None) -> Any:
        return await self.post(query, variables, token=self.token_for(as_) if as_ is not None else None)


@pytest.fixture
async def api(runtime: Runtime, policy: PolicyEnforcer) -> AsyncIterator[Api]:
    """The app on the test's event loop and transaction (the lifespan's work done here, in the same loop)."""
    app = create_app(runtime=runtime, policy=policy)
    app.state.services = await start_services(runtime, policy)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cellorg.test") as client:
        yield Api(client, TokenCodec.from_settings(runtime.settings))


# Org fixtures made through the services


class OrgBuilder:
    def __init__(self, session: AsyncSession, policy: PolicyEnforcer) -> None:
        self.session = session
        self.policy = policy
        self._count = 0

    async def dimension_id(self, key: str) -> int:
        from sqlalchemy import select

        dimension_id = await self.session.scalar(select(Dimension.id).where(Dimension.key == key))
        assert dimension_id is not None
        return dimension_id

    async def unit(self, name: str, *, dimension: str = "region", parent: int | None = None) -> int:
        unit = await org.create_unit(
            self.session, dimension_id=await self.dimension_id(dimension), name=name, parent_id=parent
        )
        return unit.id

    async def person(self, name: str | None = None, *, home_unit: int | None = None, role: str | None = None) -> Person:
        self._count += 1
        name = name or f"Person {self._count:03d}"
        person = await org.create_person(
            self.session,
            self.policy,
            name=name,
            email=f"{uuid.uuid4().hex[:10]}@test.cellorg.example",
            home_unit_id=home_unit,
            created_by=None,
        )
        if role is not None:
            await grant_role(
                self.session,
                self.policy,
                subject=subject_of_person(person.id),
                role=role,
                granted_by=None,
                reason="test",
            )
        return person

    async def commit(self) -> None:
        await commit(self.session)


@pytest.fixture
def build(session: AsyncSession, policy: PolicyEnforcer) -> OrgBuilder:
    return OrgBuilder(session, policy)


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
