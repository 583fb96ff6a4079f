"""Two API processes, one PostgreSQL, one Redis: a revocation in one is enforced by the other within
a second, also after Redis restarts, and one made while Redis is down is caught up on reconnection."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cellorg.core.db import commit
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.graphql.auth import TokenCodec
from cellorg.org import service as org
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role
from tests.conftest import POSTGRES_URL, TEST_SECRET, recreate_postgres_database

REPO_ROOT = Path(__file__).parents[2]
REDIS_PORT = 16391
API_PORTS = (18211, 18212)
DATABASE_URL = POSTGRES_URL.rsplit("/", 1)[0] + "/cellorg_sync_test"
GRANTS = "{ grants(liveOnly: true) { id } }"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")


class PrivateRedis:
    """A Redis of this test's own, so that restarting it disturbs nobody else."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        for _ in range(100):
            if (
                subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, check=False).stdout
                == b"PONG\n"
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def people() -> dict[str, int]:
    """An admin and an auditor, committed for real in a database of this test's own."""
    await recreate_postgres_database(DATABASE_URL)
    await asyncio.to_thread(upgrade, DATABASE_URL)
    runtime = Runtime.from_settings(Settings(database_url=DATABASE_URL))
    policy = PolicyEnforcer()
    async with runtime.session_factory() as session:
        ids = {}
        for name, role in (("admin", "admin"), ("auditor", "auditor")):
            person = await org.create_person(
                session, policy, name=name.title(), email=f"{name}@sync.example", home_unit_id=None, created_by=None
            )
            await grant_role(
                session, policy, subject=subject_of_person(person.id), role=role, granted_by=None, reason="t"
            )
            ids[name] = person.id
        await commit(session)
    await runtime.close()
    return ids


@pytest.fixture
async def servers(people: dict[str, int], redis_server: PrivateRedis, tmp_path: Path) -> AsyncIterator[list[str]]:
    env = os.environ | {
        "CELLORG_DATABASE_URL": DATABASE_URL,
        "CELLORG_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "CELLORG_TOKEN_SECRET": TEST_SECRET,
        "PYTHONPATH": str(REPO_ROOT),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", "from cellorg.core.cli import main; main()", "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"api-{port}.log").open("w"),
        )
        for port in API_PORTS
    ]
    urls = [f"http://127.0.0.1:{port}/graphql" for port in API_PORTS]
    try:
        async with httpx.AsyncClient() as client:
            for url in urls:
                await until(lambda url=url: _answers(client, url), timeout=30)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait()


async def _answers(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.post(url, json={"query": "{ health }"})).status_code == 200
    except httpx.TransportError:
        return False


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until ``condition`` holds, polling every 10 ms; fails after ``timeout``."""
    started = time.perf_counter()
    while not await condition():
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def test_revocation_reaches_the_other_process_within_a_second(
    servers: list[str], people: dict[str, int], redis_server: PrivateRedis
) -> None:
    first, second = servers
    tokens = TokenCodec.from_settings(Settings(token_secret=TEST_SECRET))
    admin = {"Authorization": f"Bearer {tokens.issue(people['admin'])}"}
    auditor = {"Authorization": f"Bearer {tokens.issue(people['auditor'])}"}

    async with httpx.AsyncClient() as client:

        async def auditor_reads(url: str) -> bool:
            return "errors" not in (await client.post(url, json={"query": GRANTS}, headers=auditor)).json()

        async def auditor_denied(url: str) -> bool:
            return not await auditor_reads(url)

        async def call(url: str, query: str) -> dict:  # type: ignore[type-arg]
            result = (await client.post(url, json={"query": query}, headers=admin)).json()
            assert "errors" not in result, result
            return result["data"]

        async def auditor_grant_id() -> int:
            grants = await call(first, f"{{ grants(personId: {people['auditor']}, liveOnly: true) {{ id role }} }}")
            return next(g["id"] for g in grants["grants"] if g["role"] == "auditor")

        async def revoke() -> None:
            await call(
                first, f'mutation {{ revokeGrant(grantId: {await auditor_grant_id()}, reason: "t") {{ __typename }} }}'
            )

        async def regrant() -> None:
            auditor_id = people["auditor"]
            await call(
                first,
                f'mutation {{ grantOrgRole(personId: {auditor_id}, role: "auditor", reason: "t") {{ __typename }} }}',
            )

        assert await auditor_reads(second)
        await revoke()
        assert await until(lambda: auditor_denied(second), timeout=1.0) < 1.0

        redis_server.stop()
        redis_server.start()
        await regrant()
        await until(lambda: auditor_reads(second), timeout=5.0)  # the second process is back on the channel
        await revoke()
        assert await until(lambda: auditor_denied(second), timeout=1.0) < 1.0

        await regrant()
        await until(lambda: auditor_reads(second), timeout=1.0)
        redis_server.stop()
        await revoke()  # published to nobody: the second process catches up when Redis is back
        assert await auditor_reads(second)
        redis_server.start()
        await until(lambda: auditor_denied(second), timeout=5.0)
