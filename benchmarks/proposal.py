"""A squad proposal end to end on PostgreSQL: 100,000 people with 5-10 claims each, a 20-slot squad
with a diversity constraint, fetching the candidates included (service call). Then the median time per phase
over as many runs, and the part of it spent in SQL statements.

    python benchmarks/proposal.py [--people 100000] [--runs 10] [--reuse]
"""

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Engine

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.org.models import Person
from cellorg.org.seed import seed_large_org
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.projects.models import Project
from cellorg.talent_pool import proposals, repository
from cellorg.talent_pool import service as talent
from cellorg.talent_pool.matcher import MaxPerUnit, MinDistinctUnits, Proposal, SquadConstraints
from cellorg.talent_pool.models import SkillClaim
from cellorg.talent_pool.proposals import propose_squad

sys.path.insert(0, str(Path(__file__).parent))
from _common import BENCH_POSTGRES_URL, clocked_functions, describe, fresh_postgres, timed_runs

SKILLS = 200
SLOTS = 20
PROJECT_NAME = "Benchmark squad"
CONSTRAINTS = SquadConstraints(max_per_unit=(MaxPerUnit("function", 2),), min_distinct=(MinDistinctUnits("region", 5),))


async def build(runtime: Runtime, people: int) -> int:
    rng = random.Random(11)
    started = time.perf_counter()
    async with runtime.session_factory() as session:
        await seed_large_org(session, people=people, units=400)
        owner = await session.scalar(select(Person.id).order_by(Person.id).limit(1))
        assert owner is not None
        skills = [
            (
                await talent.add_skill(
                    session,
                    name=f"Skill {index:03d}",
                    category=f"Area {index % 12}",
                    parent_id=None,
                    aliases=[],
                    proposed_by=None,
                    approved_by=owner,
                )
            ).id
            for index in range(SKILLS)
        ]
        now = utcnow()
        person_ids = list((await session.scalars(select(Person.id))).all())
        rows = [
            {
                "person_id": person_id,
                "skill_id": skill_id,
                "level": rng.randint(1, 5),
                "evidence": [],
                "claimed_at": now,
                "evidence_at": now - timedelta(days=rng.randrange(400)),
                "superseded_at": None,
            }
            for person_id in person_ids
            for skill_id in rng.sample(skills, rng.randint(5, 10))
        ]
        for offset in range(0, len(rows), 20_000):
            await session.execute(insert(SkillClaim), rows[offset : offset + 20_000])
        project = await projects.create_project(
            session,
            PolicyEnforcer(),
            name=PROJECT_NAME,
            description="",
            owner_id=owner,
            starts_at=now,
            ends_at=now + timedelta(days=60),
            customer_unit_id=None,
            product_line_unit_id=None,
        )
        for index in range(SLOTS):
            slot = await projects.add_slot(
                session, project.id, title=f"Seat {index}", role="member", headcount=1, allocation_pct=50
            )
            for skill_id in rng.sample(skills, rng.choice((1, 2))):
                await talent.add_requirement(session, slot_id=slot.id, skill_id=skill_id, min_level=3, weight=1.0)
        await commit(session)
        await session.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have after a bulk load
        await commit(session)
    print(f"built {people:,} people with {len(rows):,} claims in {time.perf_counter() - started:.1f} s")
    return project.id


async def existing(runtime: Runtime) -> int:
    """The project the last run built (``--reuse``)."""
    async with runtime.session_factory() as session:
        project_id = await session.scalar(select(Project.id).where(Project.name == PROJECT_NAME))
    assert project_id is not None, "nothing to reuse: run without --reuse"
    return project_id


# --- breakdown ------------------------------------------------------------------------------------------------

PHASES = (
    (proposals, "candidate_claims"),
    (proposals, "_scores"),
    (repository, "units_by_dimension"),
    (proposals, "match"),
)


@contextmanager
def clocked(engine: Engine, spent: dict[str, float]) -> Iterator[None]:
    """Time in each phase, and in SQL statements (sent to rows fetched, whatever the phase)."""

    def sent(connection: Any, *_: Any) -> None:
        connection.info["sent"] = time.perf_counter()

    def answered(connection: Any, *_: Any) -> None:
        spent["SQL (all phases)"] += time.perf_counter() - connection.info.pop("sent")

    event.listen(engine, "before_cursor_execute", sent)
    event.listen(engine, "after_cursor_execute", answered)
    try:
        with clocked_functions(PHASES, spent):
            yield
    finally:
        event.remove(engine, "before_cursor_execute", sent)
        event.remove(engine, "after_cursor_execute", answered)


async def breakdown(runtime: Runtime, project_id: int, runs: int) -> None:
    assert runtime.engine is not None
    per_run: dict[str, list[float]] = defaultdict(list)
    async with runtime.session_factory() as session:
        for _ in range(runs):
            spent: dict[str, float] = defaultdict(float)
            with clocked(runtime.engine.sync_engine, spent):
                started = time.perf_counter()
                await propose_squad(session, project_id, CONSTRAINTS)
                spent["total"] = time.perf_counter() - started
            for name, seconds in spent.items():
                per_run[name].append(seconds * 1000)
    print(f"breakdown, median of {runs} runs:")
    for name, samples in per_run.items():
        print(f"  {name:<20} {statistics.median(samples):7.1f} ms")


async def main(people: int, runs: int, reuse: bool) -> None:
    url = BENCH_POSTGRES_URL if reuse else await fresh_postgres()
    runtime = Runtime.from_settings(Settings(database_url=url))
    try:
        project_id = await existing(runtime) if reuse else await build(runtime, people)
        async with runtime.session_factory() as session:
            proposal = await propose_squad(session, project_id, CONSTRAINTS)
            assert isinstance(proposal, Proposal), proposal
            gc.freeze()  # as the server does after start-up
            samples = await timed_runs(lambda: propose_squad(session, project_id, CONSTRAINTS), runs, warmup=1)
        print(f"proposal for {SLOTS} slots over {people:,} people: {describe(samples)} (target <= 300 ms median)")
        await breakdown(runtime, project_id, runs)
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="Measure the database the last run built.")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.runs, arguments.reuse))
