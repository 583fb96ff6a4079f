"""The full replay names the first entry that no longer matches, whatever was edited in the database.

Every tamper case runs three ways: all in this process, with the entries checked on worker processes, and
with batches of three entries (so that batches, checkpoints and workers' slices cut the log in many places).
"""

import os
from datetime import datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.settings import Settings
from cellorg.ledger import replay as replay_module
from cellorg.ledger import service as ledger
from cellorg.ledger.replay import replay
from cellorg.ledger.typed_data import ENTRY_TYPES, TYPES, TypedDataError, digest, full_typed_data
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings(Settings())
PREFIX = b"\x19\x01" + KEYS.domain.separator
LEDGER_TABLES = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")
COLUMNS = "entry_type, project_id, author_id, contribution_kind, points, payload, digest, signature, signer, "
COLUMNS += "signed_by_service, leaf_hash, chain_hash, recorded_at"
WAYS = {"in process": (0, replay_module.BATCH), "on workers": (2, replay_module.BATCH), "batches of 3": (2, 3)}


@pytest.fixture(params=list(WAYS))
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    count, batch = WAYS[request.param]
    monkeypatch.setattr(replay_module, "BATCH", batch)
    return count


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


async def first_mismatch(session: AsyncSession, workers: int, **options: bool) -> str:
    report = await replay(session, KEYS, workers=workers, **options)
    assert report.first_mismatch is not None
    return str(report.first_mismatch)


def blob(session: AsyncSession, hex_digits: str) -> str:
    return f"x'{hex_digits}'" if session.get_bind().dialect.name == "sqlite" else f"'\\x{hex_digits}'"


async def test_an_untouched_log_verifies(session: AsyncSession, squad: Squad, workers: int) -> None:
    seen: list[int] = []
    report = await replay(session, KEYS, signatures=True, progress=seen.append, workers=workers)
    assert (report.ok, report.entries, report.checkpoints, sum(seen)) == (True, 10, 2, 10)


async def test_a_changed_payload_byte(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(
        session, "UPDATE ledger_entries SET payload = replace(payload, 'Deliverable 4', 'Deliverable 5') WHERE seq = 4"
    )
    assert await first_mismatch(session, workers) == "entry 4: its payload does not match its signed digest"


async def test_a_changed_column_next_to_the_payload(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "UPDATE ledger_entries SET points = 90 WHERE seq = 3")
    assert await first_mismatch(session, workers) == "entry 3: its points column differs from the signed payload"


async def test_a_changed_signature(session: AsyncSession, squad: Squad, workers: int) -> None:
    row = (await session.execute(text("SELECT signature FROM ledger_entries WHERE seq = 5"))).scalar_one()
    changed = bytes(row[:10]) + bytes([row[10] ^ 1]) + bytes(row[11:])
    await tamper(session)
    await session.execute(text("UPDATE ledger_entries SET signature = :s WHERE seq = 5"), {"s": changed})
    assert (await first_mismatch(session, workers)).startswith("entry 5: its leaf hash is not")


async def test_two_entries_swapped(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(
        session,
        "CREATE TEMPORARY TABLE ledger_copy AS SELECT * FROM ledger_entries WHERE seq IN (3, 4)",
        "DELETE FROM ledger_entries WHERE seq IN (3, 4)",
        f"INSERT INTO ledger_entries (seq, {COLUMNS}) SELECT 7 - seq, {COLUMNS} FROM ledger_copy",
    )
    assert await first_mismatch(session, workers) == (
        "entry 3: it is not the entry a checkpoint covered at this position: the log was rewritten"
    )


async def test_an_entry_deleted(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq = 6")
    assert await first_mismatch(session, workers) == "entry 6: missing: the log goes on with entry 7"


async def test_an_entry_inserted(session: AsyncSession, squad: Squad, frozen_now: datetime, workers: int) -> None:
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
        await first_mismatch(session, workers) == "entry 8: it is not the entry a checkpoint covered at this position: "
        "the log was rewritten"
    )


async def test_the_log_truncated_and_regrown(
    session: AsyncSession, squad: Squad, frozen_now: datetime, workers: int
) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq >= 9")
    person_id = (await session.execute(text("SELECT author_id FROM ledger_entries WHERE seq = 1"))).scalar_one()
    for title in ("Forked 9", "Forked 10"):
        await record(session, squad, person_id, frozen_now, title)
    assert (
        await first_mismatch(session, workers) == "entry 9: it is not the entry a checkpoint covered at this position: "
        "the log was rewritten"
    )


async def test_the_log_truncated_below_a_checkpoint(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "DELETE FROM ledger_entries WHERE seq >= 9")
    assert await first_mismatch(session, workers) == "entry 9: missing: checkpoint 10 covers it, the log ends before"


async def test_a_checkpoint_with_the_same_size_and_another_root(
    session: AsyncSession, squad: Squad, workers: int
) -> None:
    await tamper(session, f"UPDATE ledger_checkpoints SET root = {blob(session, '11' * 32)} WHERE tree_size = 6")
    assert await first_mismatch(session, workers) == "checkpoint 6: its root is not the root of the log at that size"


async def test_a_checkpoint_whose_consistency_proof_was_replaced(
    session: AsyncSession, squad: Squad, workers: int
) -> None:
    await tamper(
        session, f"UPDATE ledger_checkpoints SET consistency_proof = {blob(session, '33' * 32)} WHERE tree_size = 10"
    )
    assert (await first_mismatch(session, workers)).startswith("checkpoint 10: its consistency proof from 6 fails: ")


async def test_a_first_checkpoint_given_a_consistency_proof(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(
        session, f"UPDATE ledger_checkpoints SET consistency_proof = {blob(session, '33' * 32)} WHERE tree_size = 6"
    )
    assert await first_mismatch(session, workers) == "checkpoint 6: the first checkpoint carries a consistency proof"


async def test_a_checkpoint_that_names_another_predecessor(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "UPDATE ledger_checkpoints SET previous_size = 5 WHERE tree_size = 10")
    assert await first_mismatch(session, workers) == "checkpoint 10: it follows checkpoint 5, not 6"


async def test_a_stored_tree_node_changed(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, f"UPDATE ledger_nodes SET hash = {blob(session, '22' * 32)} WHERE level = 1 AND position = 1")
    assert await first_mismatch(session, workers) == (
        "entry 3: the log differs from the tree node (1, 1) a checkpoint stored"
    )


async def test_a_forged_service_signature_is_caught_when_signatures_are_checked(
    session: AsyncSession, squad: Squad, workers: int
) -> None:
    await tamper(
        session, "UPDATE ledger_entries SET signer = '0x0000000000000000000000000000000000000001' WHERE seq = 2"
    )
    assert await first_mismatch(session, workers, signatures=True) == (
        "entry 2: its signature was made by "
        + KEYS.service.address
        + ", not by the recorded signer 0x0000000000000000000000000000000000000001"
    )


async def test_a_changed_author(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, f"UPDATE ledger_entries SET author_id = {squad.owner.id} WHERE seq = 2")
    assert await first_mismatch(session, workers) == "entry 2: its author_id column differs from the signed payload"


async def test_an_amends_column_the_payload_does_not_sign(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "UPDATE ledger_entries SET amends = 1 WHERE seq = 7")
    assert await first_mismatch(session, workers) == "entry 7: its amends column differs from the signed payload"


async def test_points_on_a_decision(session: AsyncSession, squad: Squad, frozen_now: datetime, workers: int) -> None:
    author = (await session.execute(text("SELECT author_id FROM ledger_entries WHERE seq = 1"))).scalar_one()
    decision = ledger.decision_message(
        project_id=squad.project.id,
        decided_by_id=author,
        title="Bid with the modular line",
        rationale="Cheaper to extend",
        alternatives=["Custom line"],
        decided_at=frozen_now - timedelta(hours=1),
    )
    await ledger.record_entry(session, KEYS, "Decision", decision)
    await tamper(session, "UPDATE ledger_entries SET points = 100 WHERE seq = 11")
    assert await first_mismatch(session, workers) == "entry 11: its points column differs from the signed payload"


async def test_an_entry_retyped_as_a_checkpoint(session: AsyncSession, squad: Squad, workers: int) -> None:
    await tamper(session, "UPDATE ledger_entries SET entry_type = 'Checkpoint' WHERE seq = 8")
    assert await first_mismatch(session, workers) == (
        f"entry 8: Checkpoint is not an entry type ({', '.join(ENTRY_TYPES)})"
    )


async def test_without_payloads_an_edited_payload_passes_and_a_changed_signature_does_not(
    session: AsyncSession, squad: Squad, workers: int
) -> None:
    await tamper(session, "UPDATE ledger_entries SET payload = replace(payload, 'Deliverable', 'Nothing')")
    report = await replay(session, KEYS, payloads=False, workers=workers)
    assert (report.ok, report.entries, report.checkpoints) == (True, 10, 2)
    await session.execute(text(f"UPDATE ledger_entries SET signature = {blob(session, '33' * 65)} WHERE seq = 9"))
    assert (await first_mismatch(session, workers, payloads=False)).startswith("entry 9: its leaf hash is not")


# --- The fast paths agree with the reference code they stand in for ----------------------------------------------

_TEXT = st.text(max_size=40)
_BYTES32 = st.binary(min_size=32, max_size=32).map(lambda value: "0x" + value.hex())
_UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
_UINT256 = st.integers(min_value=0, max_value=2**256 - 1)
_MESSAGES = {
    "Contribution": st.fixed_dictionaries(
        {
            "projectId": _UINT256,
            "contributorId": _UINT256,
            "kind": _TEXT,
            "title": _TEXT,
            "points": st.integers(min_value=0, max_value=2**32 - 1),
            "skills": st.lists(_TEXT, max_size=3),
            "evidence": st.lists(st.fixed_dictionaries({"uri": _TEXT, "contentHash": _BYTES32}), max_size=3),
            "occurredAt": _UINT64,
            "amends": _UINT64,
            "nonce": _BYTES32,
        }
    ),
    "Decision": st.fixed_dictionaries(
        {
            "projectId": _UINT256,
            "decidedById": _UINT256,
            "title": _TEXT,
            "rationale": _TEXT,
            "alternatives": st.lists(_TEXT, max_size=3),
            "decidedAt": _UINT64,
            "amends": _UINT64,
            "nonce": _BYTES32,
        }
    ),
}


@given(entry=st.sampled_from(list(_MESSAGES)).flatmap(lambda name: st.tuples(st.just(name), _MESSAGES[name])))
@settings(max_examples=150, deadline=None)
def test_the_replay_digest_is_the_eip712_digest(entry: tuple[str, dict[str, Any]]) -> None:
    primary_type, message = entry
    expected = digest(KEYS.domain, primary_type, message)
    assert replay_module._digest(KEYS.domain, PREFIX, primary_type, message) == expected
    signed = Account.sign_typed_data(KEYS.service.key, full_message=full_typed_data(KEYS.domain, primary_type, message))
    assert signed.message_hash == expected


def test_every_entry_type_has_a_specialised_encoder() -> None:
    assert set(replay_module._ENCODERS) == set(ENTRY_TYPES)
    for name in ENTRY_TYPES:
        example = {field: _example(kind) for field, kind in TYPES[name]}
        assert replay_module._digest(KEYS.domain, PREFIX, name, example) == digest(KEYS.domain, name, example)


def _example(kind: str) -> object:
    if kind.endswith("[]"):
        return [_example(kind[:-2])]
    if kind in TYPES:
        return {field: _example(inner) for field, inner in TYPES[kind]}
    return {"string": "text", "bytes32": "0x" + "ab" * 32}.get(kind, 7)


def _contribution(**changes: object) -> dict[str, object]:
    message: dict[str, object] = {
        "projectId": 1,
        "contributorId": 2,
        "kind": "design",
        "title": "Design",
        "points": 3,
        "skills": ["python"],
        "evidence": [{"uri": "https://example.com", "contentHash": "0x" + "cd" * 32}],
        "occurredAt": 4,
        "amends": 0,
        "nonce": "0x" + "ef" * 32,
    }
    return message | changes


@pytest.mark.parametrize(
    "message",
    [
        _contribution(points=True),
        _contribution(points=3.0),
        _contribution(points=-1),
        _contribution(points=2**32),
        _contribution(title=None),
        _contribution(title="lone \ud800 surrogate"),
        _contribution(skills="python"),
        _contribution(skills=[1]),
        _contribution(evidence=[{"uri": "https://example.com"}]),
        _contribution(evidence=[{"uri": "x", "contentHash": "0x" + "cd" * 32, "extra": 1}]),
        _contribution(nonce="0X" + "ef" * 32),
        _contribution(nonce="0x" + "EF" * 32),
        _contribution(nonce="0x" + "ef" * 31 + " e"),
        _contribution(nonce="0x" + "ef" * 32 + "\n"),
        _contribution(nonce="0x" + "ef" * 31),
        _contribution(extra=1),
        {key: value for key, value in _contribution().items() if key != "amends"},
        ["not", "an", "object"],
    ],
)
def test_the_replay_digest_refuses_and_accepts_what_the_reference_does(message: Any) -> None:
    assert _outcome(lambda: digest(KEYS.domain, "Contribution", message)) == _outcome(
        lambda: replay_module._digest(KEYS.domain, PREFIX, "Contribution", message)
    )


def _outcome(compute: Any) -> object:
    try:
        return compute()
    except (TypedDataError, ValueError, KeyError, TypeError) as error:
        return type(error), str(error)


def test_the_replay_leaves_and_links_are_the_service_hashes() -> None:
    digests = [os.urandom(32) for _ in range(20)]
    signatures = [os.urandom(65) for _ in range(20)]
    leaves = replay_module._leaves(digests, signatures)
    assert leaves == [ledger.HASHER.leaf(ledger.leaf_data(d, s)) for d, s in zip(digests, signatures, strict=True)]
    previous = [os.urandom(32) for _ in range(20)]
    links = [ledger.chain_hash(p, leaf) for p, leaf in zip(previous, leaves, strict=True)]
    assert replay_module._links(previous, leaves) == links
