"""people(first: 50) through the whole stack versus stock strawberry, and the cost of authorization.

Prints: SQL statements for 5 and for 50 people; requests per second of our server (bearer token,
Casbin authorization, PostgreSQL), of the same server with authorization off, and of stock strawberry
(its ASGI app, no caches) serving the same 50 people from a Python list; one uvicorn worker each,
measured in interleaved rounds in one run.

    python benchmarks/people_query.py [--seconds 5] [--rounds 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import event

from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.graphql.app import create_app, start_services
from cellorg.graphql.auth import TokenCodec
from cellorg.org import service as org
from cellorg.permissions.enforcer import PolicyEnforcer

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_postgres, http_load

SECRET = "benchmark-secret-benchmark-secret-0123456789"  # noqa: S105  (a throwaway benchmark key)
QUERY = "{ people(first: %d%s) { edges { node { id name email homeUnit { name } } } } }"
PORTS = {"full": 18101, "noauthz": 18102, "stock": 18103}


async def seed(settings: Settings) -> tuple[int, dict[int, int]]:
    """50 people in one team and 5 in another; returns a viewer id and the unit of each team size."""
    runtime = Runtime.from_settings(settings)
    policy = PolicyEnforcer()
    teams: dict[int, int] = {}
    async with runtime.session_factory() as session:
        for size in (50, 5):
            unit = await org.create_unit(session, dimension_id=2, name=f"Bench Team {size}", parent_id=None)
            teams[size] = unit.id
            for index in range(size):
                person = await org.create_person(
                    session,
                    policy,
                    name=f"Person {size}-{index:02d}",
                    email=f"p{size}-{index}@bench.example",
                    home_unit_id=unit.id,
                    created_by=None,
                )
        await commit(session)
    await runtime.close()
    return person.id, teams


async def statement_counts(settings: Settings, viewer: int, teams: dict[int, int]) -> dict[int, int]:
    runtime = Runtime.from_settings(settings)
    app = create_app(settings, runtime=runtime)
    app.state.services = await start_services(runtime)
    token = TokenCodec.from_settings(settings).issue(viewer)
    counts: dict[int, int] = {}
    statements: list[str] = []
    assert runtime.engine is not None
    event.listen(runtime.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for size, unit in teams.items():
            statements.clear()
            body = {"query": QUERY % (50, f", unitId: {unit}")}
            response = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
            assert len(response.json()["data"]["people"]["edges"]) == size
            counts[size] = len([s for s in statements if s.lstrip().upper().startswith("SELECT")])
    await runtime.close()
    return counts


def start_servers(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    script = Path(__file__).parent / "_servers.py"
    return [
        subprocess.Popen([sys.executable, str(script), variant, str(port)], env=env) for variant, port in PORTS.items()
    ]


async def wait_until_up() -> None:
    async with httpx.AsyncClient() as client:
        for port in PORTS.values():
            for _ in range(100):
                try:
                    await client.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"})
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)


async def main(seconds: float, rounds: int) -> None:
    url = await fresh_postgres()
    settings = Settings(database_url=url, token_secret=SECRET)
    viewer, teams = await seed(settings)
    counts = await statement_counts(settings, viewer, teams)
    print(f"SQL statements for people(first: 50): 5 people -> {counts[5]}, 50 people -> {counts[50]}")

    env = os.environ | {"CELLORG_DATABASE_URL": url, "CELLORG_TOKEN_SECRET": SECRET, "CELLORG_MODE": "dev"}
    servers = start_servers(env)
    try:
        await wait_until_up()
        token = TokenCodec.from_settings(settings).issue(viewer)
        body = json.dumps({"query": QUERY % (50, "")}).encode()
        headers = {
            "full": {"Authorization": f"Bearer {token}"},
            "noauthz": {"Authorization": f"Bearer {token}"},
            "stock": {},
        }
        for variant, port in PORTS.items():  # warm-up: caches, connection pools
            await http_load(port, body, headers[variant], 1.0, 4)
        results: dict[str, list[float]] = {variant: [] for variant in PORTS}
        order = list(PORTS)
        for round_index in range(rounds):
            for variant in order[round_index % 3 :] + order[: round_index % 3]:  # rotate: no position bias
                results[variant].append(await http_load(PORTS[variant], body, headers[variant], seconds, 4))
                await asyncio.sleep(0.2)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    rps = {variant: statistics.median(samples) for variant, samples in results.items()}
    for variant, samples in results.items():
        print(f"{variant:8s} req/s: median {rps[variant]:7.1f}  rounds {[round(s) for s in samples]}")
    print(f"ratio full stack / stock strawberry: {rps['full'] / rps['stock']:.2f} (target >= 1.0)")
    print(f"authorization overhead: {(1 - rps['full'] / rps['noauthz']) * 100:.1f}% (target <= 10%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.rounds))
