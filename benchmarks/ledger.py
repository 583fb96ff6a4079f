"""Ledger figures on PostgreSQL: appends with 8 concurrent writers (gap-free checked), checkpointing, and
inclusion proofs read from the database. The replay and the 1,000,000-entry proof: benchmarks/ledger_replay.py.

    python benchmarks/ledger.py [--entries 20000] [--writers 8] [--batch 100]

Appends are measured twice: one entry per transaction (a GraphQL mutation recording one entry), then
``--batch`` entries per transaction (recordContributions, imports). The writers are asyncio tasks in one process,
as concurrent requests are in one API server; afterwards the log is checked gap-free and chained.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.ledger import merkle
from cellorg.ledger import service as ledger
from cellorg.ledger.appender import LedgerAppender
from cellorg.ledger.models import LedgerEntry
from cellorg.org.models import Person
from cellorg.org.seed import seed_large_org
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe, fresh_postgres

KEYS = ledger.LedgerKeys.from_settings(Settings())
Writer = Callable[[Runtime, int, int, int, int], Awaitable[None]]


async def setup(runtime: Runtime) -> tuple[int, int]:
    async with runtime.session_factory() as session:
        await seed_large_org(session, people=20, units=8)
        person = await session.scalar(select(Person.id).order_by(Person.id).limit(1))
        assert person is not None
        now = utcnow()
        project = await projects.create_project(
            session,
            PolicyEnforcer(),
            name="Ledger benchmark",
            description="",
            owner_id=person,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=60),
            customer_unit_id=None,
            product_line_unit_id=None,
        )
        await commit(session)
        return project.id, person


def new_entries(project_id: int, person_id: int, first: int, count: int) -> list[ledger.NewEntry]:
    occurred = utcnow() - timedelta(hours=1)
    return [
        ledger.NewEntry(
            "Contribution",
            ledger.contribution_message(
                project_id=project_id,
                contributor_id=person_id,
                kind="deliverable",
                title=f"Deliverable {index}",
                points=10,
                occurred_at=occurred,
                evidence=[("https://files.example.com/d.pdf", "0x" + "cd" * 32)],
            ),
        )
        for index in range(first, first + count)
    ]


async def writer(runtime: Runtime, project_id: int, person_id: int, count: int, batch: int) -> None:
    """Append ``count`` service-signed contributions, ``batch`` per transaction of its own."""
    for start in range(0, count, batch):
        entries = new_entries(project_id, person_id, start, min(batch, count - start))
        async with runtime.session_factory() as session:
            await ledger.record_entries(session, KEYS, entries)
            await commit(session)


def grouped_writer(appender: LedgerAppender) -> Writer:
    """A writer whose single-entry requests go through the process's group commit."""

    async def write(_runtime: Runtime, project_id: int, person_id: int, count: int, _batch: int) -> None:
        for index in range(count):
            await appender.append(new_entries(project_id, person_id, index, 1))

    return write


async def appends(
    runtime: Runtime,
    project_id: int,
    person_id: int,
    entries: int,
    writers: int,
    batch: int,
    how: str,
    write: Writer = writer,
) -> None:
    """Concurrent writers, then a check that the sequence is gap-free with one head and each entry chains to the
    one before it."""
    async with runtime.session_factory() as session:
        before = int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    started = time.perf_counter()
    await asyncio.gather(*(write(runtime, project_id, person_id, entries // writers, batch) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    async with runtime.session_factory() as session:
        count, low, high = (
            await session.execute(select(func.count(), func.min(LedgerEntry.seq), func.max(LedgerEntry.seq)))
        ).one()
        assert (count, low, high) == (before + entries // writers * writers, 1, count), "the sequence has a gap"
        await check_chain(session, after=before)
        # the entries of one transaction share their recorded_at
        transactions = await session.scalar(
            select(func.count(LedgerEntry.recorded_at.distinct())).where(LedgerEntry.seq > before)
        )
    added = count - before
    print(
        f"appends, {how}, {writers} writers (asyncio tasks in one process): {added:,} entries in {elapsed:.1f} s "
        f"= {added / elapsed:,.0f}/s in {transactions:,} transactions, gap-free and chained (target >= 2,000/s)"
    )


async def check_chain(session: AsyncSession, after: int) -> None:
    """Each entry after ``after`` links to its predecessor's chain hash: no writer read a stale head."""
    at_start = await session.scalar(select(LedgerEntry.chain_hash).where(LedgerEntry.seq == after))
    previous = at_start or ledger.GENESIS_CHAIN_HASH
    query = (
        select(LedgerEntry.chain_hash, LedgerEntry.leaf_hash).where(LedgerEntry.seq > after).order_by(LedgerEntry.seq)
    )
    for chained, leaf in (await session.execute(query)).all():
        assert chained == ledger.chain_hash(previous, leaf), "the chain is broken"
        previous = chained


async def main(entries: int, writers: int, batch: int) -> None:
    runtime = Runtime.from_settings(Settings(database_url=await fresh_postgres()), pool_size=writers + 2)
    try:
        project_id, person_id = await setup(runtime)
        grouped = grouped_writer(LedgerAppender(runtime.session_factory, KEYS))
        single = min(entries, 20_000)
        await appends(runtime, project_id, person_id, single, writers, 1, "1 per request, group commit", grouped)
        await appends(runtime, project_id, person_id, single, writers, 1, "1 per transaction of its own")
        await appends(runtime, project_id, person_id, entries, writers, batch, f"{batch} per transaction")
        async with runtime.session_factory() as session:
            count = int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
            started = time.perf_counter()
            checkpoint = await ledger.publish_checkpoint(session, KEYS)
            await commit(session)
            print(
                f"checkpoint of {checkpoint.tree_size:,} entries (tree grown from empty): "
                f"{time.perf_counter() - started:.2f} s"
            )
            samples = []
            for index in range(0, count, max(1, count // 200)):
                started = time.perf_counter()
                nodes = await ledger.read_nodes(session, merkle.inclusion_keys(index, count))
                merkle.inclusion_proof(merkle.KECCAK256, index, count, nodes)
                samples.append((time.perf_counter() - started) * 1000)
            print(f"inclusion proof (read + compute) at {count:,} entries: {describe(samples)} (target <= 5 ms at 1M)")
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="entries per transaction in the main run")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.entries, arguments.writers, arguments.batch))
