"""Helpers the benchmark scripts share: a fresh PostgreSQL database and a lean HTTP load generator."""

import asyncio
import functools
import inspect
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.migrate import upgrade

BENCH_POSTGRES_URL = os.environ.get(
    "CELLORG_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/cellorg_bench"
)

# The ledger_entries columns the benchmarks COPY their rows into, in their rows' order (the chain hash last: it
# links each row to the one before, so it is computed as the rows are written).
LEDGER_COLUMNS = (
    "seq",
    "entry_type",
    "project_id",
    "author_id",
    "contribution_kind",
    "points",
    "amends",
    "payload",
    "digest",
    "signature",
    "signer",
    "signed_by_service",
    "leaf_hash",
    "recorded_at",
    "chain_hash",
)


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, inside the session's transaction (for COPY)."""
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection
    return driver


async def fresh_postgres(url: str = BENCH_POSTGRES_URL) -> str:
    """Drop, create and migrate the benchmark database; returns its URL."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, url)
    return url


async def timed_runs(call: Callable[[], Awaitable[object]], runs: int, warmup: int = 5) -> list[float]:
    """Milliseconds per call, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms, n={len(ordered)}"


async def http_load(port: int, body: bytes, headers: dict[str, str], seconds: float, connections: int) -> float:
    """Requests per second over keep-alive HTTP/1.1 connections; every response must be 200."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body
    deadline = time.perf_counter() + seconds
    counts = await asyncio.gather(*(_client(port, request, deadline) for _ in range(connections)))
    return sum(counts) / seconds


async def _client(port: int, request: bytes, deadline: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            status = await reader.readline()
            if b" 200 " not in status:
                msg = f"unexpected response: {status!r}"
                raise RuntimeError(msg)
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
    return done


@contextmanager
def clocked_functions(targets: Sequence[tuple[ModuleType, str]], spent: dict[str, float]) -> Iterator[None]:
    """Seconds spent in each named module-level function (by its name), while inside; the originals come back
    after. Callers must reach the functions through the module's globals, as the services do."""
    originals = [(module, name, getattr(module, name)) for module, name in targets]
    for module, name, function in originals:
        setattr(module, name, _timed(function, name, spent))
    try:
        yield
    finally:
        for module, name, function in originals:
            setattr(module, name, function)


def _timed(function: Callable[..., Any], name: str, spent: dict[str, float]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    return timed
