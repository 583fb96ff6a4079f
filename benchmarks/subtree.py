"""The descendants of a 3,000-unit subtree in a 100,000-unit organisation, on PostgreSQL (service call).

Builds a fresh database: 97,000 units from the large-org seed plus one region whose subtree holds
exactly 3,000 units (15 areas of 199 sites), then times ``org.repository.unit_subtree`` on it.

    python benchmarks/subtree.py [--runs 200]
"""

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.org import repository as repo
from cellorg.org import service as org
from cellorg.org.models import Unit
from cellorg.org.seed import seed_large_org

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe, fresh_postgres, timed_runs

TOTAL_UNITS = 100_000
AREAS, SITES_PER_AREA = 15, 199  # 15 + 15 * 199 = 3,000 descendants


async def build(runtime: Runtime) -> Unit:
    async with runtime.session_factory() as session:
        started = time.perf_counter()
        root = await org.create_unit(session, dimension_id=1, name="Benchmark Region", parent_id=None)
        for area_index in range(AREAS):
            area = await org.create_unit(session, dimension_id=1, name=f"Area {area_index}", parent_id=root.id)
            now = utcnow()
            await session.execute(
                insert(Unit),
                [
                    {
                        "dimension_id": 1,
                        "parent_id": area.id,
                        "path": area.subtree_prefix,
                        "name": f"Site {i}",
                        "created_at": now,
                    }
                    for i in range(SITES_PER_AREA)
                ],
            )
        await seed_large_org(session, people=0, units=TOTAL_UNITS - 1 - AREAS * (SITES_PER_AREA + 1))
        await commit(session)
        total = await session.scalar(select(func.count()).select_from(Unit))
        print(f"built {total:,} units in {time.perf_counter() - started:.1f} s")
        return root


async def main(runs: int) -> None:
    runtime = Runtime.from_settings(Settings(database_url=await fresh_postgres()))
    try:
        root = await build(runtime)
        async with runtime.session_factory() as session:
            await session.execute(select(func.count()).select_from(Unit))  # warm the connection
            nodes = await repo.unit_subtree(session, root.id, root.path)
            assert len(nodes) == AREAS * (SITES_PER_AREA + 1), len(nodes)
            gc.freeze()  # as the server does after start-up (graphql/app.py)
            samples = await timed_runs(lambda: repo.unit_subtree(session, root.id, root.path), runs)
        print(
            f"descendants of a {len(nodes):,}-unit subtree among {TOTAL_UNITS:,} units: {describe(samples)}"
            " (target <= 10 ms)"
        )
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(main(parser.parse_args().runs))
