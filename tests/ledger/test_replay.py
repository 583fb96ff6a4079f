"""The full replay names the first entry that no longer matches, whatever was edited in the database."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.settings import Settings
from cellorg.ledger import service as ledger
from cellorg.ledger.replay import replay
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings(Settings())
LEDGER_TABLES = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")
COLUMNS = "entry_type, project_id, author_id, contribution_kind, points, payload, digest, signature, signer, "
COLUMNS += "signed_by_service, leaf_hash, chain_hash, recorded_at"


@pytest.fixture
async def squad(session: AsyncSession, squads: SquadBuilder, frozen_now: datetime) -> Squad:
    """Ten contributions: a checkpoint after the sixth, another after the tenth."""
    squad = await squads.squad(now=frozen_now, roles=("member",))
    person = await squads.join(squad, "member")
    for index in range(10):
        await record(session, squad, person.id, frozen_now, f"Deliverable {index + 1}")
        if index + 1 in (6, 10):
            await ledger.publish_checkpoint(session, KEYS)
    return squad


async def record(session: AsyncSession, squad: Squad, person_id: int, now: datetime, title: str) -> None:
    message = ledger.contribution_message(
        project_id=squad.project.id,
        contributor_id=person_id,
        kind="deliverable",
        title=title,
        points=10,
        occurred_at=now - timedelta(hours=1),
    )
    await ledger.record_entry(session, KEYS, "Contribution", message)


async def tamper(session: AsyncSession, *statements: str) -> None:
    """Edit the ledger as a database administrator would: around the append-only triggers."""
    dialect = session.get_bind().dialect.name
    for table in LEDGER_TABLES:
        if dialect == "postgresql":
            await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        else:
            await session.execute(text(f"DROP TRIGGER {table}_no_update"))
            await session.execute(text(f"DROP TRIGGER {table}_no_delete"))
    for statement in statements:
        await session.execute(text(statement))


async def first_mismatch(session: AsyncSession, *, signatures: bool = False) -> str:
    report = await replay(session, KEYS, signatures=signatures)
    assert report.first_mismatch is not None
    return str(report.first_mismatch)


async def test_an_untouched_log_verifies(session: AsyncSession, squad: Squad) -> None:
    seen: list[int] = []
    report = await replay(session, KEYS, signatures=True, progress=seen.append)
    assert (report.ok, report.entries, report.checkpoints, sum(seen)) == (True, 10, 2, 10)


async def test_a_changed_payload_byte(session: AsyncSession, squad: Squad) -> None:
    await tamper(
        session, "UPDATE ledger_entries SET payload = replace(payload, 'Deliverable 4', 'Deliverable 5') WHERE seq = 4"
    )
    assert await first_mismatch(session) == "entry 4: its payload does not match its signed digest"


async def test_a_changed_column_next_to_the_payload(session: AsyncSession, squad: Squad) -> None:
    await tamper(session, "UPDATE ledger_entries SET points = 90 WHERE seq = 3")
    assert await first_mismatch(session) == "entry 3: its points column differs from the signed payload"


async def test_a_changed_signature(session: AsyncSession, squad: Squad) -> None:
    row = (await session.execute(text("SELECT signature FROM ledger_entries WHERE seq = 5"))).scalar_one()
    changed = bytes(row[:10]) + bytes([row[10] ^ 1]) + bytes(row[11:])
    await tamper(session)
    await session.execute(text("UPDATE ledger_entries SET signature = :s WHERE seq = 5"), {"s": changed})
    assert (await first_mismatch(session)).startswith("entry 5: its leaf hash is not")


async def test_two_entries_swapped(session: AsyncSession, squad: Squad) -> None:
    await tamper(
        session,
        "CREATE TEMPORARY TABLE ledger_copy AS SELECT * FROM ledger_entries WHERE seq IN (3, 4)",
        "DELETE FROM ledger_entries WHERE seq IN (3, 4)",
        f"INSERT INTO ledger_entries (seq, {COLUMNS}) SELECT 7 - seq, {COLUMNS} FROM ledger_copy",
    )
    assert await first_mismatch(session) == (
        "entry 3: it is not the entry a checkpoint covered at this position: the log was rewritten"
    )


async def test_an_entry_deleted(session: AsyncSession, squad: Squad) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq = 6")
    assert await first_mismatch(session) == "entry 6: missing: the log goes on with entry 7"


async def test_an_entry_inserted(session: AsyncSession, squad: Squad, frozen_now: datetime) -> None:
    await tamper(
        session,
        "CREATE TEMPORARY TABLE ledger_copy AS SELECT * FROM ledger_entries WHERE seq >= 8",
        "DELETE FROM ledger_entries WHERE seq >= 8",
    )
    person_id = (await session.execute(text("SELECT author_id FROM ledger_entries WHERE seq = 1"))).scalar_one()
    await record(session, squad, person_id, frozen_now, "Inserted afterwards")  # a valid link at 8
    await session.execute(
        text(f"INSERT INTO ledger_entries (seq, {COLUMNS}) SELECT seq + 1, {COLUMNS} FROM ledger_copy")
    )
    assert (
        await first_mismatch(session) == "entry 8: it is not the entry a checkpoint covered at this position: "
        "the log was rewritten"
    )


async def test_the_log_truncated_and_regrown(session: AsyncSession, squad: Squad, frozen_now: datetime) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq >= 9")
    person_id = (await session.execute(text("SELECT author_id FROM ledger_entries WHERE seq = 1"))).scalar_one()
    for title in ("Forked 9", "Forked 10"):
        await record(session, squad, person_id, frozen_now, title)
    assert (
        await first_mismatch(session) == "entry 9: it is not the entry a checkpoint covered at this position: "
        "the log was rewritten"
    )


async def test_the_log_truncated_below_a_checkpoint(session: AsyncSession, squad: Squad) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq >= 9")
    assert await first_mismatch(session) == "entry 9: missing: checkpoint 10 covers it, the log ends before"


async def test_a_checkpoint_with_the_same_size_and_another_root(session: AsyncSession, squad: Squad) -> None:
    other_root = "x'" + "11" * 32 + "'" if session.get_bind().dialect.name == "sqlite" else "'\\x" + "11" * 32 + "'"
    await tamper(session, f"UPDATE ledger_checkpoints SET root = {other_root} WHERE tree_size = 6")
    assert await first_mismatch(session) == "checkpoint 6: its root is not the root of the log at that size"


async def test_a_forged_service_signature_is_caught_when_signatures_are_checked(
    session: AsyncSession, squad: Squad
) -> None:
    await tamper(
        session, "UPDATE ledger_entries SET signer = '0x0000000000000000000000000000000000000001' WHERE seq = 2"
    )
    assert await first_mismatch(session, signatures=True) == (
        "entry 2: its signature was made by "
        + KEYS.service.address
        + ", not by the recorded signer 0x0000000000000000000000000000000000000001"
    )


async def test_a_changed_author(session: AsyncSession, squad: Squad) -> None:
    await tamper(session, f"UPDATE ledger_entries SET author_id = {squad.owner.id} WHERE seq = 2")
    assert await first_mismatch(session) == "entry 2: its author_id column differs from the signed payload"
