"""Finance on PostgreSQL: a bonus statement for 10,000 members over 1,000,000 contributions (target <= 3 s).

The setup copies people, the squad's grants and members and the ledger rows in with COPY; the project, its slots,
the policy and the rounds go through the services. Ledger rows carry placeholder payloads (of a real one's size),
hashes and signatures: a statement reads only the project, type, seq, author, kind, points and amends columns.
Ten members bring 2% of the entries each, so the 1% cap binds, and a tenth bring two entries each, so the floor
does; a few hundred entries amend an earlier one. The project is closed before the ledger is copied in:
``close_project`` archives every entry's payload, which is not what is measured here.

Each timed run computes and commits the statement of a new round (the final one, then interim ones), end to end;
then the same inputs once more, which returns the stored statement; then one more round with the service's pieces
and the SQL clocked separately. The database is ``cellorg_bench_bonus`` next to ``CELLORG_BENCH_POSTGRES_URL``'s.

    python benchmarks/bonus.py [--members 10000] [--entries 1000000] [--runs 3] [--reuse]
"""

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.models import BonusPolicy, BonusRound
from cellorg.ledger.models import Checkpoint
from cellorg.ledger.service import CONTRIBUTION_KINDS
from cellorg.org.models import Person
from cellorg.permissions.catalogue import project_scope, subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.projects.models import Outcome, Project, SquadMember

sys.path.insert(0, str(Path(__file__).parent))
from _common import BENCH_POSTGRES_URL, LEDGER_COLUMNS, clocked_functions, fresh_postgres, raw_connection

BONUS_URL = BENCH_POSTGRES_URL.rsplit("/", 1)[0] + "/cellorg_bench_bonus"
PROJECT_NAME = "Bonus benchmark"
FINANCE_EMAIL = "finance@bench.example"
POLICY_NAME = "Bonus benchmark policy"
RULES = {
    "kindWeights": {"design": "1.5"},
    "roleMultipliers": {"lead": "1.2"},
    "cap": {"share": "0.01"},
    "floor": {"amount": "100.00"},
}
POOL, CURRENCY = "12000000.00", "CNY"
TARGET_SECONDS = 3.0
AMENDMENTS = 300
COPY_CHUNK = 100_000


@dataclass(frozen=True)
class Bench:
    project_id: int
    finance_id: int
    policy_id: int
    tree_size: int
    members: int


# --- setup ----------------------------------------------------------------------------------------------------


async def copy_people(session: AsyncSession, count: int) -> list[int]:
    now = utcnow()
    records = [(f"Member {i}", f"member{i}@bench.example", True, now) for i in range(count)]
    connection = await raw_connection(session)
    await connection.copy_records_to_table("people", records=records, columns=("name", "email", "active", "created_at"))
    rows = await connection.fetch("SELECT id FROM people WHERE email LIKE 'member%@bench.example' ORDER BY id")
    return [row["id"] for row in rows]


def squad_roles(people: Sequence[int]) -> dict[int, str]:
    """1% leads, 5% advisors, the rest members."""
    return {
        person: "lead" if index % 100 == 0 else "advisor" if index % 20 == 1 else "member"
        for index, person in enumerate(people)
    }


async def copy_squad(session: AsyncSession, project: Project, roles: dict[int, str]) -> None:
    """A slot per role (through the service), then a grant and a squad_members row per person (COPY)."""
    slots = {}
    for role in sorted(set(roles.values())):
        headcount = sum(1 for given in roles.values() if given == role)
        slot = await projects.add_slot(
            session, project.id, title=f"{role}s", role=role, headcount=headcount, allocation_pct=10
        )
        slots[role] = slot.id
    now = utcnow()
    scope = project_scope(project.id)
    grants = [
        (subject_of_person(person), role, scope, now, project.ends_at, None, "squad slot", now)
        for person, role in roles.items()
    ]
    connection = await raw_connection(session)
    await connection.copy_records_to_table(
        "grants",
        records=grants,
        columns=("subject", "role", "scope", "valid_from", "valid_until", "granted_by", "reason", "created_at"),
    )
    rows = await connection.fetch("SELECT id, subject FROM grants WHERE scope = $1 AND reason = 'squad slot'", scope)
    grant_of = {row["subject"]: row["id"] for row in rows}
    members = [
        (project.id, slots[role], person, role, 10, grant_of[subject_of_person(person)], now, None)
        for person, role in roles.items()
    ]
    await connection.copy_records_to_table(
        "squad_members",
        records=members,
        columns=("project_id", "slot_id", "person_id", "role", "allocation_pct", "grant_id", "joined_at", "left_at"),
    )


async def squad_project(session: AsyncSession, members: int) -> tuple[int, int]:
    """The finance user (who owns the project, outside the squad), the squad's people, the active project."""
    finance = Person(name="Finance", email=FINANCE_EMAIL, active=True, created_at=utcnow())
    session.add(finance)
    await session.flush()
    people = await copy_people(session, members)
    now = utcnow()
    project = await projects.create_project(
        session,
        PolicyEnforcer(),
        name=PROJECT_NAME,
        description="",
        owner_id=finance.id,
        starts_at=now - timedelta(days=90),
        ends_at=now + timedelta(days=30),
        customer_unit_id=None,
        product_line_unit_id=None,
    )
    await projects.activate_project(session, project.id)
    await copy_squad(session, project, squad_roles(people))
    return project.id, finance.id


def authors(people: Sequence[int], entries: int, rng: random.Random) -> list[int]:
    """Skewed on purpose: ten heavy contributors (2% each, over the cap), a tenth with two entries (under the
    floor), everyone else an even share; shuffled."""
    heavy, light = people[: max(1, len(people) // 1000)], people[len(people) // 1000 : len(people) // 10]
    chosen = [person for person in heavy for _ in range(entries // 50)]
    chosen += [person for person in light for _ in range(2)]
    rest = people[len(people) // 10 :]
    chosen += [rest[index % len(rest)] for index in range(entries - len(chosen))]
    rng.shuffle(chosen)
    return chosen


def amendments(entries: int, rng: random.Random) -> dict[int, int]:
    """Amending seq -> the earlier seq it amends, each amended once."""
    amending = sorted(rng.sample(range(entries // 2, entries + 1), AMENDMENTS))
    targets: dict[int, int] = {}
    taken: set[int] = set()
    for seq in amending:
        target = rng.randrange(1, entries // 2)
        while target in taken:
            target = rng.randrange(1, entries // 2)
        taken.add(target)
        targets[seq] = target
    return targets


def ledger_rows(project_id: int, people: Sequence[int], entries: int, recorded_at: datetime) -> Iterator[tuple]:
    """Contribution rows with placeholder payloads, hashes and signatures; ``digest`` unique, as its index requires."""
    rng = random.Random(11)
    by_seq = authors(people, entries, rng)
    amends = amendments(entries, rng)
    for seq, target in amends.items():
        by_seq[seq - 1] = by_seq[target - 1]  # an amendment comes from the author of the entry it amends
    kinds = rng.choices(CONTRIBUTION_KINDS, k=entries)
    points = rng.choices(range(1, 101), k=entries)
    blank, signature, signer = bytes(32), bytes(65), "0x" + "00" * 20
    # As wide as a real contribution's canonical EIP-712 message: the scans read as many pages as in production.
    payload = '{"title":"' + "x" * 348 + '"}'
    for index in range(entries):
        seq = index + 1
        yield (
            seq,
            "Contribution",
            project_id,
            by_seq[index],
            kinds[index],
            points[index],
            amends.get(seq),
            payload,
            seq.to_bytes(32, "big"),
            signature,
            signer,
            True,
            blank,
            recorded_at,
            blank,
        )


async def copy_ledger(session: AsyncSession, project_id: int, entries: int) -> None:
    """The entries, then the checkpoint that covers them all."""
    people = list(
        await session.scalars(
            select(SquadMember.person_id).where(SquadMember.project_id == project_id).order_by(SquadMember.person_id)
        )
    )
    connection = await raw_connection(session)
    rows = ledger_rows(project_id, people, entries, utcnow() - timedelta(days=1))
    while chunk := [row for _, row in zip(range(COPY_CHUNK), rows, strict=False)]:
        await connection.copy_records_to_table("ledger_entries", records=chunk, columns=LEDGER_COLUMNS)
    session.add(
        Checkpoint(
            tree_size=entries,
            root=bytes(range(32)),
            created_at=utcnow(),
            signature=bytes(65),
            signer="0x" + "11" * 20,
            previous_size=None,
            consistency_proof=b"",
        )
    )
    await session.flush()


async def vacuum_analyze(url: str) -> None:
    """What autovacuum would have done to a table this size: visibility map, hint bits and statistics."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute("VACUUM (ANALYZE) ledger_entries")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def setup(runtime: Runtime, url: str, members: int, entries: int) -> Bench:
    steps: dict[str, float] = {}
    started = time.perf_counter()
    async with runtime.session_factory() as session:
        project_id, finance_id = await squad_project(session, members)
        await commit(session)
    steps["people and squad"] = time.perf_counter() - started
    async with runtime.session_factory() as session:
        await projects.close_project(session, PolicyEnforcer(), project_id, outcome=Outcome.WON, closed_by=None)
        await commit(session)
    steps["close_project"] = time.perf_counter() - started - sum(steps.values())
    async with runtime.session_factory() as session:
        await copy_ledger(session, project_id, entries)
        policy = await bonus.create_policy(session, name=POLICY_NAME, rules=RULES, created_by=finance_id)
        await commit(session)
    steps["ledger COPY"] = time.perf_counter() - started - sum(steps.values())
    await vacuum_analyze(url)
    steps["VACUUM ANALYZE"] = time.perf_counter() - started - sum(steps.values())
    parts = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in steps.items())
    print(
        f"setup: {members:,} members, {entries:,} contributions ({AMENDMENTS} amendments), 1 checkpoint: "
        f"{sum(steps.values()):.1f} s ({parts})"
    )
    return Bench(project_id, finance_id, policy.id, entries, members)


async def existing(runtime: Runtime) -> Bench:
    """The database the last run built (``--reuse``)."""
    async with runtime.session_factory() as session:
        project_id = await session.scalar(select(Project.id).where(Project.name == PROJECT_NAME))
        finance_id = await session.scalar(select(Person.id).where(Person.email == FINANCE_EMAIL))
        policy_id = await session.scalar(select(func.max(BonusPolicy.id)).where(BonusPolicy.name == POLICY_NAME))
        tree_size = await session.scalar(select(func.max(Checkpoint.tree_size)))
        members = await session.scalar(select(func.count()).where(SquadMember.project_id == project_id))
    assert project_id and finance_id and policy_id and tree_size and members, "nothing to reuse: run without --reuse"
    return Bench(project_id, finance_id, policy_id, tree_size, members)


# --- measurements ---------------------------------------------------------------------------------------------


async def new_round(runtime: Runtime, bench: Bench) -> int:
    """The final round if it does not exist yet, else the next interim one."""
    async with runtime.session_factory() as session:
        names = set(await session.scalars(select(BonusRound.name).where(BonusRound.project_id == bench.project_id)))
        name = bonus.FINAL_ROUND if bonus.FINAL_ROUND not in names else f"interim {len(names)}"
        created = await bonus.create_round(
            session,
            project_id=bench.project_id,
            name=name,
            amount=POOL,
            currency=CURRENCY,
            policy_id=bench.policy_id,
            created_by=bench.finance_id,
        )
        await commit(session)
        return created.id


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # this process only: on a busy machine, the part of ``seconds`` others cannot stretch much
    statement_id: int
    lines: list[dict[str, Any]]


async def timed_statement(runtime: Runtime, bench: Bench, round_id: int) -> Run:
    """compute_statement + commit, timed end to end."""
    async with runtime.session_factory() as session:
        started, cpu = time.perf_counter(), time.process_time()
        statement = await bonus.compute_statement(session, round_id, bench.tree_size, bench.finance_id)
        await commit(session)
        return Run(time.perf_counter() - started, time.process_time() - cpu, statement.id, statement.content["lines"])


def check_lines(lines: list[dict[str, Any]], bench: Bench) -> str:
    amounts = [Decimal(line["amount"]) for line in lines]
    assert len(lines) == bench.members, f"{len(lines)} lines for {bench.members} members"
    assert sum(amounts) == Decimal(POOL), f"the amounts sum to {sum(amounts)}, not {POOL}"
    capped = amounts.count(Decimal(POOL) * Decimal(RULES["cap"]["share"]))
    floored = amounts.count(Decimal(RULES["floor"]["amount"]))
    return f"{len(lines):,} lines summing to {POOL} exactly, {capped} at the cap, {floored} at the floor"


async def statements(runtime: Runtime, bench: Bench, runs: int) -> None:
    samples = []
    for _ in range(runs):
        round_id = await new_round(runtime, bench)
        samples.append(await timed_statement(runtime, bench, round_id))
        checked = check_lines(samples[-1].lines, bench)
    print(f"statement: {checked}")
    seconds = [run.seconds for run in samples]
    print(
        f"statement of {bench.members:,} members over {bench.tree_size:,} contributions, computed and committed: "
        f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s, n={runs} "
        f"(target <= {TARGET_SECONDS:.0f} s); this process's CPU time: "
        f"median {statistics.median(run.cpu_seconds for run in samples):.2f} s; load average {load_average()}"
    )
    again = await timed_statement(runtime, bench, round_id)
    assert again.statement_id == samples[-1].statement_id, "the same inputs made a second statement"
    print(f"same inputs again (recomputed, the stored statement returned): {again.seconds:.2f} s")


def load_average() -> str:
    """The 1-minute load average: above 1 on this 2-core machine, something else competes for the cores."""
    return f"{os.getloadavg()[0]:.2f}"


# --- breakdown ------------------------------------------------------------------------------------------------

CLOCKED = (
    "statement_content",
    "get_or_fail",
    "checkpoint_at",
    "_roles",
    "_contributions",
    "_peer_points",
    "allocate",
    "canonical_json",
    "keccak256",
    "_statement_with_hash",
)


@contextmanager
def clocked_sql(engine: Engine, seconds: dict[str, float], last: dict[str, tuple[str, Any]]) -> Iterator[None]:
    """Time in the driver per kind of statement (for a SELECT: PostgreSQL, the transfer and asyncpg's decoding)."""
    started: list[float] = []

    def kind(statement: str) -> str:
        if "FROM ledger_entries" in statement:  # compute_statement reads the ledger once, in _contributions
            return "contributions"
        return "insert" if statement.startswith("INSERT INTO bonus_statements") else "other"

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, parameters: Any, *__: Any) -> None:
        seconds[kind(statement)] += time.perf_counter() - started.pop()
        last[kind(statement)] = (statement, parameters)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


async def server_time(session: AsyncSession, statement: str, parameters: Sequence[Any]) -> tuple[float, int]:
    """PostgreSQL's own execution time of a statement, run once more (EXPLAIN ANALYZE, seconds), and its rows."""
    connection = await raw_connection(session)
    # SQLAlchemy's asyncpg dialect registers a json codec on its connections: the plan comes back decoded.
    plan = await connection.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {statement}", *parameters)
    return plan[0]["Execution Time"] / 1000, plan[0]["Plan"]["Actual Rows"]


async def breakdown(runtime: Runtime, bench: Bench) -> None:
    round_id = await new_round(runtime, bench)
    spent: dict[str, float] = defaultdict(float)
    sql: dict[str, float] = defaultdict(float)
    seen: dict[str, tuple[str, Any]] = {}
    assert runtime.engine is not None
    async with runtime.session_factory() as session:
        with (
            clocked_functions([(bonus, name) for name in CLOCKED], spent),
            clocked_sql(runtime.engine.sync_engine, sql, seen),
        ):
            started = time.perf_counter()
            await bonus.compute_statement(session, round_id, bench.tree_size, bench.finance_id)
            computed = time.perf_counter()
            await commit(session)
            total, committing = time.perf_counter() - started, time.perf_counter() - computed
        postgres, rows = await server_time(session, *seen["contributions"])
    report_breakdown(spent, sql, total, committing, postgres, rows)


def report_breakdown(
    spent: dict[str, float], sql: dict[str, float], total: float, committing: float, postgres: float, rows: int
) -> None:
    reads = spent["get_or_fail"] + spent["checkpoint_at"] + spent["_roles"] + spent["_peer_points"]
    content = spent["statement_content"]
    lines = content - reads - spent["_contributions"] - spent["allocate"]
    inserting = total - committing - content - spent["canonical_json"] - spent["keccak256"]
    inserting -= spent["_statement_with_hash"]
    parts = [
        (f"SQL read of the contributions ({rows:,} rows; PostgreSQL itself {postgres:.2f} s)", sql["contributions"]),
        ("rows -> points, weights, entries per author (Python)", spent["_contributions"] - sql["contributions"]),
        ("other reads (round, policy, checkpoint, squad roles, peer points)", reads),
        ("allocation", spent["allocate"]),
        ("statement lines", lines),
        ("canonical JSON", spent["canonical_json"]),
        ("keccak256", spent["keccak256"]),
        ("lookup of an existing statement", spent["_statement_with_hash"]),
        (f"insert of the statement row (of which the INSERT itself {sql['insert']:.2f} s)", inserting),
        ("commit", committing),
    ]
    print(f"breakdown of one more statement, {total:.2f} s in all (load average {load_average()}):")
    for label, seconds in parts:
        print(f"  {seconds:6.2f} s  {label}")


async def main(members: int, entries: int, runs: int, reuse: bool) -> None:
    url = BONUS_URL if reuse else await fresh_postgres(BONUS_URL)
    runtime = Runtime.from_settings(Settings(database_url=url), pool_size=2)
    try:
        bench = await existing(runtime) if reuse else await setup(runtime, url, members, entries)
        gc.freeze()  # as the rq work horse that computes a statement does (core/jobs.py)
        await statements(runtime, bench, runs)
        await breakdown(runtime, bench)
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="Measure the database the last run built.")
    arguments = parser.parse_args()
    if arguments.runs < 1:
        parser.error("--runs must be 1 or more")
    asyncio.run(main(arguments.members, arguments.entries, arguments.runs, arguments.reuse))
