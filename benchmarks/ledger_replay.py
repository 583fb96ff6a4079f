"""The full replay and inclusion proofs on a large ledger in PostgreSQL (1,000,000 entries in a few minutes).

The log is built without the append path: valid Contribution and Decision payloads (95% and 5%, some amending an
earlier entry, about 10% signed by their author's own key, the rest by the service key) are encoded, hashed and signed
on every core, then written with COPY, their Merkle nodes too; a signed checkpoint every ``--checkpoint-every``
entries is built the way ``publish_checkpoint`` builds one, and ``publish_checkpoint`` itself covers the rest.
Then it prints the inclusion proof read + compute time and the replay rates: the leaf, chain and tree stage alone
(``payloads=False``), the default full replay (in one process and on a worker pool), and every signature recovered.
Since all of these are bound by keccak256 and secp256k1 on this machine's cores, it first prints what one hash and
one signature recovery cost here, and the rate the leaf + chain + tree hashing alone allows on one core.

The database is ``cellorg_bench_replay`` next to ``CELLORG_BENCH_POSTGRES_URL``'s, so that other benchmarks
running at the same time keep theirs.

    python benchmarks/ledger_replay.py [--entries 1000000] [--checkpoint-every 100000] [--reuse]
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import coincurve
from eth_account import Account
from sha3 import keccak_256
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import commit
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.ledger import merkle
from cellorg.ledger import service as ledger
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.models import Checkpoint
from cellorg.ledger.replay import replay
from cellorg.ledger.signatures import sign_digest
from cellorg.ledger.typed_data import Domain, canonical_json, digest
from cellorg.org.models import Person
from cellorg.org.seed import seed_large_org
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects

sys.path.insert(0, str(Path(__file__).parent))
from _common import BENCH_POSTGRES_URL, LEDGER_COLUMNS, describe, fresh_postgres, raw_connection

KEYS = ledger.LedgerKeys.from_settings(Settings())
REPLAY_URL = BENCH_POSTGRES_URL.rsplit("/", 1)[0] + "/cellorg_bench_replay"
CHUNK = 10_000
PROJECTS = 4
PERSONAL_SIGNERS = 3
SKILLS = ("python", "postgresql", "negotiation", "financial modelling", "ux research")
WORDS = ("pricing", "pilot", "rollout", "contract", "dashboard", "migration", "workshop", "forecast", "audit")


@dataclass(frozen=True)
class Plan:
    """What every chunk of entries is made from; sent to the worker processes."""

    domain: Domain
    service_key: bytes
    service_address: str
    project_ids: tuple[int, ...]
    people: tuple[int, ...]
    personal_keys: dict[int, bytes]  # person id -> private key
    personal_addresses: dict[int, str]
    occurred_from: int  # unix seconds
    recorded_from: datetime


async def setup(runtime: Runtime) -> tuple[tuple[int, ...], tuple[int, ...], dict[int, bytes]]:
    """Twenty people, a few projects, three people with their own Ethereum keys."""
    async with runtime.session_factory() as session:
        await seed_large_org(session, people=20, units=8)
        people = tuple((await session.scalars(select(Person.id).order_by(Person.id))).all())
        now = utcnow()
        project_ids = []
        for index in range(PROJECTS):
            project = await projects.create_project(
                session,
                PolicyEnforcer(),
                name=f"Replay benchmark {index + 1}",
                description="",
                owner_id=people[index],
                starts_at=now - timedelta(days=400),
                ends_at=now + timedelta(days=60),
                customer_unit_id=None,
                product_line_unit_id=None,
            )
            project_ids.append(project.id)
        keys = {
            person: keccak256(f"cellorg replay benchmark {person}".encode()) for person in people[:PERSONAL_SIGNERS]
        }
        for person, key in keys.items():
            address = Account.from_key(key).address
            await session.execute(update(Person).where(Person.id == person).values(eth_address=address))
        await commit(session)
        return tuple(project_ids), people, keys


def make_chunk(plan: Plan, first_seq: int, count: int) -> list[tuple[Any, ...]]:
    """Entries ``first_seq ..`` with every column but the chain hash (the parent links them in order)."""
    rng = random.Random(first_seq)
    service = coincurve.PrivateKey(plan.service_key)
    personal = {person: coincurve.PrivateKey(key) for person, key in plan.personal_keys.items()}
    latest: dict[tuple[str, int], int] = {}
    rows = []
    for seq in range(first_seq, first_seq + count):
        project = rng.choice(plan.project_ids)
        author = rng.choice(plan.people)
        primary_type = "Decision" if rng.random() < 0.05 else "Contribution"
        earlier = latest.get((primary_type, project))
        amends = earlier if earlier is not None and rng.random() < 0.01 else None
        message = _message(plan, rng, primary_type, project, author, amends, seq)
        entry_digest = digest(plan.domain, primary_type, message)
        by_service = author not in personal or rng.random() < 0.3
        signer = service if by_service else personal[author]
        recoverable = signer.sign_recoverable(entry_digest, hasher=None)  # libsecp256k1 gives the low s
        signature = recoverable[:64] + bytes([recoverable[64] + 27])
        rows.append(
            (
                seq,
                primary_type,
                project,
                author,
                message.get("kind"),
                message.get("points"),
                amends,
                canonical_json(message),
                entry_digest,
                signature,
                plan.service_address if by_service else plan.personal_addresses[author],
                by_service,
                ledger.HASHER.leaf(ledger.leaf_data(entry_digest, signature)),
                plan.recorded_from + timedelta(seconds=seq // 8),
            )
        )
        latest[primary_type, project] = seq
    return rows


def _message(
    plan: Plan, rng: random.Random, primary_type: str, project: int, author: int, amends: int | None, seq: int
) -> dict[str, Any]:
    moment = datetime.fromtimestamp(plan.occurred_from + seq // 8, tz=UTC)
    title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{seq}"
    nonce = "0x" + rng.randbytes(32).hex()
    if primary_type == "Decision":
        return ledger.decision_message(
            project_id=project,
            decided_by_id=author,
            title=title,
            rationale=" ".join(rng.choices(WORDS, k=rng.randint(8, 40))),
            alternatives=[f"Option {index}" for index in range(rng.randint(0, 3))],
            decided_at=moment,
            amends=amends,
            nonce=nonce,
        )
    evidence = [
        (f"https://files.example.com/{seq}/{index}.pdf", "0x" + rng.randbytes(32).hex())
        for index in range(rng.choice((0, 1, 1, 2)))
    ]
    return ledger.contribution_message(
        project_id=project,
        contributor_id=author,
        kind=rng.choice(ledger.CONTRIBUTION_KINDS),
        title=title,
        points=rng.randint(1, ledger.MAX_POINTS),
        occurred_at=moment,
        skills=rng.sample(SKILLS, rng.choice((0, 0, 1, 2))),
        evidence=evidence,
        amends=amends,
        nonce=nonce,
    )


def _chunk_task(arguments: tuple[Plan, int, int]) -> list[tuple[Any, ...]]:
    return make_chunk(*arguments)


def chunks(plan: Plan, entries: int) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks in order, computed on every core."""
    tasks = [(plan, first, min(CHUNK, entries - first + 1)) for first in range(1, entries + 1, CHUNK)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        yield from pool.imap(_chunk_task, tasks)


async def write_entries(session: AsyncSession, plan: Plan, entries: int) -> list[bytes]:
    """COPY the entries in, chunk by chunk as the workers finish them; returns the leaf hashes."""
    connection = await raw_connection(session)
    chain, leaves = ledger.GENESIS_CHAIN_HASH, []
    for rows in chunks(plan, entries):
        linked = []
        for row in rows:
            chain = ledger.chain_hash(chain, row[12])
            linked.append((*row, chain))
            leaves.append(row[12])
        await connection.copy_records_to_table("ledger_entries", records=linked, columns=LEDGER_COLUMNS)
    return leaves


async def write_checkpoints(session: AsyncSession, leaves: Sequence[bytes], every: int) -> int:
    """The tree and a signed checkpoint every ``every`` entries below the head, as publish_checkpoint makes them."""
    connection = await raw_connection(session)
    border: dict[merkle.NodeKey, bytes] = {}
    built = 0
    for size in range(every, len(leaves), every):
        created = merkle.appended_nodes(ledger.HASHER, built, leaves[built:size], border)
        records = [(level, position, node) for (level, position), node in created.items()]
        await connection.copy_records_to_table("ledger_nodes", records=records, columns=("level", "position", "hash"))
        nodes = border | created
        border = {key: nodes[key] for key in merkle.root_keys(size)}
        root = merkle.root(ledger.HASHER, size, border)
        proof: list[bytes] = []
        if built:
            wanted = merkle.consistency_keys(built, size)
            proof = merkle.consistency_proof(ledger.HASHER, built, size, await ledger.read_nodes(session, wanted))
        created_at = utcnow().replace(microsecond=0)
        message = ledger.checkpoint_message(size, root, created_at)
        session.add(
            Checkpoint(
                tree_size=size,
                root=root,
                created_at=created_at,
                signature=sign_digest(KEYS.service, digest(KEYS.domain, "Checkpoint", message)),
                signer=KEYS.service.address,
                previous_size=built or None,
                consistency_proof=b"".join(proof),
            )
        )
        await session.flush()
        built = size
    return built


async def build(runtime: Runtime, entries: int, every: int) -> None:
    project_ids, people, personal_keys = await setup(runtime)
    now = utcnow()
    plan = Plan(
        domain=KEYS.domain,
        service_key=bytes(KEYS.service.key),
        service_address=KEYS.service.address,
        project_ids=project_ids,
        people=people,
        personal_keys=personal_keys,
        personal_addresses={person: Account.from_key(key).address for person, key in personal_keys.items()},
        occurred_from=int((now - timedelta(days=365)).timestamp()),
        recorded_from=now - timedelta(days=365),
    )
    started = time.perf_counter()
    async with runtime.session_factory() as session:
        leaves = await write_entries(session, plan, entries)
        written = time.perf_counter()
        covered = await write_checkpoints(session, leaves, every)
        await commit(session)
    treed = time.perf_counter()
    async with runtime.session_factory() as session:
        checkpoint = await ledger.publish_checkpoint(session, KEYS)
        await commit(session)  # its anchor job runs here, on the embedded chain
    finished = time.perf_counter()
    print(
        f"build: {entries:,} entries encoded, signed and copied in {written - started:.1f} s; "
        f"tree and {covered // every} checkpoints up to {covered:,} in {treed - written:.1f} s; "
        f"publish_checkpoint of the last {checkpoint.tree_size - covered:,} entries (and its anchor) in "
        f"{finished - treed:.1f} s; total {finished - started:.1f} s"
    )


async def inclusion_proofs(runtime: Runtime) -> None:
    rng = random.Random(1)
    samples = []
    async with runtime.session_factory() as session:
        checkpoint = await ledger.latest_checkpoint(session)
        assert checkpoint is not None
        entries = checkpoint.tree_size
        for index in rng.sample(range(entries), 200):
            started = time.perf_counter()
            nodes = await ledger.read_nodes(session, merkle.inclusion_keys(index, entries))
            path = merkle.inclusion_proof(ledger.HASHER, index, entries, nodes)
            samples.append((time.perf_counter() - started) * 1000)
            leaf = await ledger.read_nodes(session, [(0, index)])
            merkle.verify_inclusion(ledger.HASHER, index, entries, leaf[0, index], path, checkpoint.root)
    print(f"inclusion proof (read + compute) at {entries:,} entries: {describe(samples)} (target <= 5 ms at 1M)")


def machine_speed() -> None:
    """keccak256 and signature recovery here, and leaf + chain + tree hashing in memory on one core."""
    rng = random.Random(2)
    entries = [(rng.randbytes(32), rng.randbytes(65)) for _ in range(100_000)]
    started = time.perf_counter()
    leaves = [keccak_256(b"\x00" + entry_digest + signature).digest() for entry_digest, signature in entries]
    chain = ledger.GENESIS_CHAIN_HASH
    for leaf in leaves:
        chain = keccak_256(chain + leaf).digest()
    merkle.appended_levels(ledger.HASHER, 0, leaves, {})
    hashing = time.perf_counter() - started
    per_hash = hashing / (3 * len(entries)) * 1e6
    entry_digest = keccak256(b"entry")
    signature = sign_digest(KEYS.service, entry_digest)
    started = time.perf_counter()
    for _ in range(500):
        coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([signature[64] - 27]), entry_digest, None)
    recovery = (time.perf_counter() - started) / 500 * 1e6
    print(
        f"this machine: keccak256 of a leaf, link or node {per_hash:.2f} us (the targets assume ~1 us), "
        f"secp256k1 recovery {recovery:.0f} us; leaf + chain + tree hashing alone, in memory on one core: "
        f"{len(entries) / hashing:,.0f} entries/s"
    )


async def replay_rate(runtime: Runtime, label: str, target: str, **options: Any) -> None:
    async with runtime.session_factory() as session:
        started = time.perf_counter()
        report = await replay(session, KEYS, **options)
        elapsed = time.perf_counter() - started
    assert report.ok, report.first_mismatch
    print(f"replay ({label}): {report.entries / elapsed:,.0f} entries/s, {elapsed:.1f} s (target {target})")


async def main(entries: int, every: int, reuse: bool) -> None:
    runtime = Runtime.from_settings(Settings(database_url=REPLAY_URL if reuse else await fresh_postgres(REPLAY_URL)))
    try:
        if not reuse:
            await build(runtime, entries, every)
        await inclusion_proofs(runtime)
        machine_speed()
        for label, options in [("one process", {"workers": 0}), ("default", {})]:
            await replay_rate(runtime, f"leaf, chain, tree, {label}", ">= 200,000/s", payloads=False, **options)
        for label, options in [("one process", {"workers": 0}), ("default", {})]:
            await replay_rate(runtime, f"full default check, payloads re-encoded, {label}", "none", **options)
        await replay_rate(runtime, "full, every signature recovered too", ">= 5,000/s", signatures=True)
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="Measure the database the last run built.")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.entries, arguments.checkpoint_every, arguments.reuse))
