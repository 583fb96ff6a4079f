"""Authorization at scale: 100,000 live grants across 10,000 projects, on PostgreSQL.

Prints: one check (median, after warm-up, and the first, uncached, call); rebuilding the enforcer
from the grants table; closing a project of 50 members (service call, archive included).

    python benchmarks/grants.py [--grants 100000] [--projects 10000]
"""

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.org import service as org
from cellorg.permissions.catalogue import PROJECT_READ, ROLES, ScopeKind
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.models import Grant
from cellorg.permissions.service import load_policy
from cellorg.projects import service as projects
from cellorg.projects.models import Outcome

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe, fresh_postgres

PROJECT_ROLES = [role.name for role in ROLES if role.scope_kind is ScopeKind.PROJECT]
MEMBERS = 50


async def seed_grants(runtime: Runtime, grants: int, project_count: int) -> None:
    now = utcnow()
    rng = random.Random(3)
    rows = [
        {
            "subject": f"person:{rng.randrange(1, grants // 4)}",
            "role": rng.choice(PROJECT_ROLES),
            "scope": f"project:{100_000 + rng.randrange(project_count)}",
            "valid_from": now - timedelta(days=1),
            "valid_until": now + timedelta(days=rng.randrange(1, 90)),
            "granted_by": None,
            "reason": "bench",
            "created_at": now,
        }
        for _ in range(grants)
    ]
    async with runtime.session_factory() as session:
        for offset in range(0, grants, 10_000):
            await session.execute(insert(Grant), rows[offset : offset + 10_000])
        await commit(session)


def time_checks(policy: PolicyEnforcer, keys: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for subject, scope in keys:
        started = time.perf_counter()
        policy.enforce(subject, scope, PROJECT_READ.obj, PROJECT_READ.action)
        cold.append((time.perf_counter() - started) * 1e6)
    for _ in range(5):
        for subject, scope in keys:
            started = time.perf_counter()
            policy.enforce(subject, scope, PROJECT_READ.obj, PROJECT_READ.action)
            warm.append((time.perf_counter() - started) * 1e6)
    return cold, warm


async def close_fifty(runtime: Runtime, policy: PolicyEnforcer, run: int) -> float:
    async with runtime.session_factory() as session:
        owner = await org.create_person(
            session, policy, name="Owner", email=f"owner{run}@bench.example", home_unit_id=None, created_by=None
        )
        project = await projects.create_project(
            session,
            policy,
            name="Fifty",
            description="",
            owner_id=owner.id,
            starts_at=utcnow(),
            ends_at=utcnow() + timedelta(days=30),
            customer_unit_id=None,
            product_line_unit_id=None,
        )
        slot = await projects.add_slot(
            session, project.id, title="Crew", role="member", headcount=MEMBERS, allocation_pct=10
        )
        for index in range(MEMBERS):
            person = await org.create_person(
                session,
                policy,
                name=f"Crew {index}",
                email=f"crew{run}-{index}@bench.example",
                home_unit_id=None,
                created_by=None,
            )
            await projects.add_member(session, policy, slot_id=slot.id, person_id=person.id, added_by=None)
        await projects.activate_project(session, project.id)
        await commit(session)
    async with runtime.session_factory() as session:
        started = time.perf_counter()
        await projects.close_project(session, policy, project.id, outcome=Outcome.WON, closed_by=None)
        await commit(session)
        return (time.perf_counter() - started) * 1000


async def main(grants: int, project_count: int) -> None:
    runtime = Runtime.from_settings(Settings(database_url=await fresh_postgres()))
    try:
        await seed_grants(runtime, grants, project_count)
        policy = PolicyEnforcer()
        rebuilds = []
        for _ in range(3):
            async with runtime.session_factory() as session:
                started = time.perf_counter()
                loaded = await load_policy(session, policy)
                rebuilds.append(time.perf_counter() - started)
        print(
            f"rebuild the enforcer from {loaded:,} grant windows: median {statistics.median(rebuilds):.2f} s "
            f"(target <= 2 s)"
        )
        gc.freeze()
        rng = random.Random(5)
        windows = list(policy._windows)
        keys = [(subject, scope) for subject, _role, scope in rng.sample(windows, 2_000)]
        keys += [(f"person:{rng.randrange(10**6, 2 * 10**6)}", scope) for _subject, scope in keys[:500]]  # denials
        cold, warm = time_checks(policy, keys)
        print(f"one check, first call (Casbin): median {statistics.median(cold):.1f} us")
        print(
            f"one check after warm-up: median {statistics.median(warm):.2f} us, "
            f"p95 {sorted(warm)[int(len(warm) * 0.95)]:.2f} us (target <= 20 us)"
        )
        closes = [await close_fifty(runtime, policy, run) for run in range(5)]
        print(f"close a project of {MEMBERS} members: {describe(closes)} (target <= 50 ms)")
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.grants, arguments.projects))
