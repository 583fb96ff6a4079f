"""Recording entries: signatures, validation, the append-only log, group commit, and checkpoints with their proofs."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock, utcnow
from cellorg.core.db import commit, create_engine, create_session_factory
from cellorg.core.errors import DomainError, ValidationFailed
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings
from cellorg.ledger import merkle
from cellorg.ledger import service as ledger
from cellorg.ledger.appender import LedgerAppender
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.models import LedgerEntry
from cellorg.ledger.signatures import SECP256K1_N, SignatureError, recover_signer, sign_digest
from cellorg.ledger.typed_data import digest, full_typed_data
from cellorg.org.models import Person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.talent_pool import service as talent
from cellorg.talent_pool.models import SkillClaim
from tests.conftest import StatementCounter
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings(Settings())
CONTENT_HASH = "0x" + "ab" * 32


@pytest.fixture
async def squad(squads: SquadBuilder, frozen_now: datetime) -> Squad:
    return await squads.squad(now=frozen_now, roles=("lead", "member"))


@pytest.fixture
async def member(squads: SquadBuilder, squad: Squad, session: AsyncSession) -> tuple[Person, LocalAccount]:
    account = Account.create()
    person = await squads.join(squad, "member")
    person.eth_address = account.address
    await session.flush()
    return person, account


def contribution(squad: Squad, person: Person, at: datetime, **overrides: object) -> dict[str, object]:
    message = ledger.contribution_message(
        project_id=squad.project.id,
        contributor_id=person.id,
        kind="design",
        title="Solution design",
        points=40,
        occurred_at=at - timedelta(hours=1),
        evidence=[("https://files.example.com/design.pdf", CONTENT_HASH)],
    )
    return message | overrides


async def entry_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def test_an_unsigned_entry_is_signed_by_the_service_and_chained_to_the_genesis(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, _account = member
    entry = await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    expected_digest = digest(KEYS.domain, "Contribution", ledger.decode_payload(entry))
    assert (entry.seq, entry.signer, entry.signed_by_service) == (1, KEYS.service.address, True)
    assert entry.digest == expected_digest
    assert entry.leaf_hash == keccak256(b"\x00" + expected_digest + entry.signature)
    assert entry.chain_hash == keccak256(bytes(32) + entry.leaf_hash)
    assert (entry.points, entry.contribution_kind, entry.author_id) == (40, "design", person.id)


async def test_the_second_entry_chains_to_the_first(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, _account = member
    first = await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    second = await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    assert second.seq == 2
    assert second.chain_hash == keccak256(first.chain_hash + second.leaf_hash)


@pytest.mark.parametrize("count", [1, 10])
async def test_an_append_reads_its_context_once_and_inserts_once_whatever_the_batch_size(
    session: AsyncSession,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    statements: StatementCounter,
    count: int,
) -> None:
    person, _account = member
    await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    statements.reset()
    batch = [ledger.NewEntry("Contribution", contribution(squad, person, frozen_now)) for _ in range(count)]
    entries = await ledger.record_entries(session, KEYS, batch)
    # the project with its author; the lock (PostgreSQL only); the head; the insert
    expected = 4 if session.get_bind().dialect.name == "postgresql" else 3
    assert statements.count == expected, statements.statements
    assert [entry.seq for entry in entries] == list(range(2, count + 2))


@pytest.mark.parametrize("projects", [1, 2])
async def test_a_batch_by_several_authors_records_each_entry_with_its_author(
    session: AsyncSession,
    squads: SquadBuilder,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    projects: int,
) -> None:
    person, _account = member
    colleague = await squads.join(squad, "member")
    other = await squads.squad(now=frozen_now) if projects == 2 else squad
    written = [(person, squad), (colleague, other), (squad.owner, squad)]
    batch = [ledger.NewEntry("Contribution", contribution(where, who, frozen_now)) for who, where in written]
    entries = await ledger.record_entries(session, KEYS, batch)
    assert [(entry.seq, entry.author_id, entry.project_id) for entry in entries] == [
        (1, person.id, squad.project.id),
        (2, colleague.id, other.project.id),
        (3, squad.owner.id, squad.project.id),
    ]
    colleague.active = False
    await session.flush()
    again = [ledger.NewEntry("Contribution", contribution(where, who, frozen_now)) for who, where in written]
    with pytest.raises(ValidationFailed, match="entry 2 of 3: the author is not an active person"):
        await ledger.record_entries(session, KEYS, again)
    assert await entry_count(session) == 3


async def test_a_contribution_freshens_the_evidence_of_the_contributors_current_claims_on_its_skills(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, _account = member
    skills = [
        await talent.add_skill(
            session, name=name, category="Finance", parent_id=None, aliases=[], proposed_by=None, approved_by=person.id
        )
        for name in ("Valuation", "Term sheets", "Due diligence")
    ]
    claims = {}
    with clock.frozen(frozen_now - timedelta(days=30)):
        superseded = await talent.claim_skill(session, person_id=person.id, skill_id=skills[0].id, level=2, evidence=[])
        for skill in skills[:2]:
            claims[skill.name] = await talent.claim_skill(
                session, person_id=person.id, skill_id=skill.id, level=3, evidence=[]
            )
    claims["Due diligence"] = await talent.claim_skill(
        session, person_id=person.id, skill_id=skills[2].id, level=3, evidence=[]
    )  # evidenced now, after the contribution happened
    message = contribution(squad, person, frozen_now, skills=[skill.name for skill in skills])
    await ledger.record_entry(session, KEYS, "Contribution", message)
    session.expunge_all()
    evidence_at = dict((await session.execute(select(SkillClaim.id, SkillClaim.evidence_at))).all())
    assert evidence_at == {
        superseded.id: frozen_now - timedelta(days=30),
        claims["Valuation"].id: frozen_now - timedelta(hours=1),
        claims["Term sheets"].id: frozen_now - timedelta(hours=1),
        claims["Due diligence"].id: frozen_now,
    }


async def test_a_personal_signature_is_recorded_with_its_signer(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, account = member
    message = contribution(squad, person, frozen_now)
    signed = Account.sign_typed_data(account.key, full_message=full_typed_data(KEYS.domain, "Contribution", message))
    entry = await ledger.record_entry(session, KEYS, "Contribution", message, bytes(signed.signature))
    assert (entry.signer, entry.signed_by_service) == (account.address, False)


def _sign(account: LocalAccount, message: dict[str, object]) -> bytes:
    return sign_digest(account, digest(KEYS.domain, "Contribution", message))


def _high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64])
    return signature[:32] + (SECP256K1_N - s).to_bytes(32) + bytes([55 - signature[64]])


@pytest.mark.parametrize(
    ("forge", "error"),
    [
        (lambda m, a: _sign(Account.create(), m), "not by"),
        (lambda m, a: _high_s(_sign(a, m)), "malleated"),
        (lambda m, a: _sign(a, m | {"projectId": m["projectId"] + 1}), "not by"),
        (lambda m, a: _sign(a, m)[:64], "65 bytes"),
    ],
    ids=["foreign-key", "high-s", "signed-for-another-project", "truncated"],
)
async def test_a_bad_signature_is_refused_and_nothing_is_written(
    session: AsyncSession,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    forge: object,
    error: str,
) -> None:
    person, account = member
    message = contribution(squad, person, frozen_now)
    with pytest.raises(ValidationFailed, match=error):
        await ledger.record_entry(session, KEYS, "Contribution", message, forge(message, account))  # type: ignore[operator]
    assert await entry_count(session) == 0


@pytest.mark.parametrize("fresh_entries", [0, 2], ids=["alone", "in-a-batch"])
async def test_a_replayed_signature_is_refused(
    session: AsyncSession,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    fresh_entries: int,
) -> None:
    person, account = member
    message = contribution(squad, person, frozen_now)
    await ledger.record_entry(session, KEYS, "Contribution", message, _sign(account, message))
    fresh = [ledger.NewEntry("Contribution", contribution(squad, person, frozen_now)) for _ in range(fresh_entries)]
    replayed = ledger.NewEntry("Contribution", message, _sign(account, message))
    with pytest.raises(ValidationFailed, match="already on the ledger as entry 1"):
        await ledger.record_entries(session, KEYS, [*fresh, replayed])
    assert await entry_count(session) == 1


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("chainId", 1, "chainId is 1"),
        ("verifyingContract", "0x" + "11" * 20, "verifyingContract"),
        ("name", "another ledger", "name"),
    ],
)
def test_typed_data_from_another_domain_is_refused(field: str, value: object, error: str) -> None:
    typed = full_typed_data(KEYS.domain, "Contribution", {"anything": 1})
    typed["domain"][field] = value
    with pytest.raises(ValidationFailed, match=error):
        ledger.parse_signed(KEYS, typed)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"points": 0}, "points must be between 1 and 100"),
        ({"points": 101}, "points must be between 1 and 100"),
        ({"kind": "lunch"}, "kind must be one of"),
        ({"title": "  "}, "title must not be empty"),
        ({"evidence": [{"uri": "ftp://x", "contentHash": CONTENT_HASH}]}, "not an http"),
        ({"evidence": [{"uri": "https://x.example", "contentHash": "0x12"}]}, "32 bytes"),
        ({"skills": ["Astrology"]}, "not approved skills: Astrology"),
        ({"amends": 7}, "entry 7 is not a contribution of this project"),
        ({"points": "40"}, "must be an integer"),
        ({"projectId": 999_999}, "Project 999999 does not exist"),
        ({"projectId": 2**40}, f"Project {2**40} does not exist"),  # beyond an integer key: not sent to the database
        ({"contributorId": 999_999}, "the author is not an active person"),
        ({"contributorId": 2**40}, "the author is not an active person"),
        ({"amends": 2**63}, f"entry {2**63} is not a contribution of this project"),  # uint64, beyond a bigint
    ],
)
async def test_bad_contributions_are_refused_and_nothing_is_written(
    session: AsyncSession,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    overrides: dict[str, object],
    error: str,
) -> None:
    person, _account = member
    with pytest.raises(DomainError, match=error):
        await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now, **overrides))
    assert await entry_count(session) == 0


async def test_an_entry_for_the_future_is_refused(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, _account = member
    future = contribution(squad, person, frozen_now, occurredAt=int(frozen_now.timestamp()) + 60)
    with pytest.raises(ValidationFailed, match="has not happened yet"):
        await ledger.record_entry(session, KEYS, "Contribution", future)


@pytest.mark.parametrize("statement", ["UPDATE ledger_entries SET points = 99", "DELETE FROM ledger_entries"])
async def test_the_database_refuses_to_change_an_entry(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime, statement: str
) -> None:
    person, _account = member
    await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    with pytest.raises((DBAPIError, IntegrityError, OperationalError), match="append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))
    assert await session.scalar(select(LedgerEntry.points)) == 40


async def test_checkpoints_grow_the_tree_and_prove_each_other_consistent(
    session: AsyncSession, squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> None:
    person, _account = member
    for _ in range(5):
        await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    first = await ledger.publish_checkpoint(session, KEYS)
    for _ in range(6):
        await ledger.record_entry(session, KEYS, "Contribution", contribution(squad, person, frozen_now))
    second = await ledger.publish_checkpoint(session, KEYS)
    leaves = list((await session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq))).all())
    assert (first.tree_size, second.tree_size, second.previous_size) == (5, 11, 5)
    assert first.root == naive_root(leaves[:5])
    assert second.root == naive_root(leaves)
    proof = [second.consistency_proof[i : i + 32] for i in range(0, len(second.consistency_proof), 32)]
    merkle.verify_consistency(merkle.KECCAK256, 5, 11, first.root, second.root, proof)
    for index in range(11):
        nodes = await ledger.read_nodes(session, merkle.inclusion_keys(index, 11))
        path = merkle.inclusion_proof(merkle.KECCAK256, index, 11, nodes)
        merkle.verify_inclusion(merkle.KECCAK256, index, 11, leaves[index], path, second.root)
    assert await ledger.publish_checkpoint(session, KEYS) is second  # nothing new: the same checkpoint


async def test_an_empty_ledger_has_nothing_to_checkpoint(session: AsyncSession) -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        await ledger.publish_checkpoint(session, KEYS)


def naive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << (len(leaves) - 1).bit_length() - 1
    return keccak256(b"\x01" + naive_root(leaves[:split]) + naive_root(leaves[split:]))


def test_signing_gives_the_signature_eth_account_gives() -> None:
    for index in range(20):
        account = Account.create()
        entry_digest = keccak256(f"entry {index}".encode())
        expected = account.unsafe_sign_hash(entry_digest)
        signature = sign_digest(account, entry_digest)
        assert signature == expected.r.to_bytes(32) + expected.s.to_bytes(32) + bytes([expected.v])
        assert recover_signer(entry_digest, signature) == account.address


def _eth_keys_signer(entry_digest: bytes, signature: bytes) -> str:
    """The reference: eth-keys, which the ledger recovered with before it called libsecp256k1 itself."""
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:64])
    return str(keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(entry_digest).to_checksum_address())


def test_recovery_finds_the_signer_eth_keys_finds() -> None:
    for index in range(20):
        account = Account.create()
        entry_digest = keccak256(f"entry {index}".encode())
        signature = sign_digest(account, entry_digest)
        assert recover_signer(entry_digest, signature) == _eth_keys_signer(entry_digest, signature) == account.address
        other_digest = keccak256(f"another entry {index}".encode())  # some other key: the same one
        assert recover_signer(other_digest, signature) == _eth_keys_signer(other_digest, signature) != account.address


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        (bytes(64) + b"\x1b", "r and s must be between 1 and the curve order"),
        (b"\x01" * 64, "a signature is 65 bytes"),
        (b"\x01" * 32 + (SECP256K1_N - 1).to_bytes(32) + b"\x1b", "malleated"),
        (SECP256K1_N.to_bytes(32) + b"\x01" * 32 + b"\x1c", "r and s must be between 1 and the curve order"),
        (b"\x01" * 64 + b"\x1d", "the recovery id v must be 27, 28, 0 or 1; got 29"),
        (b"\xff" * 32 + b"\x01" * 32 + b"\x1b", "r and s must be between 1 and the curve order"),
    ],
)
def test_recovery_refuses_what_is_not_a_low_s_signature(signature: bytes, error: str) -> None:
    with pytest.raises(SignatureError, match=error):
        recover_signer(keccak256(b"an entry"), signature)


def test_recovery_refuses_a_digest_that_is_not_32_bytes() -> None:
    account = Account.create()
    with pytest.raises(SignatureError, match="a digest is 32 bytes; got 31"):
        recover_signer(bytes(31), sign_digest(account, bytes(32)))


# --- group commit: concurrent appends in one transaction -------------------------------------------------------


@pytest.fixture
def appender(runtime: Runtime) -> LedgerAppender:
    return LedgerAppender(runtime.session_factory, KEYS)


@pytest.fixture
def one(
    squad: Squad, member: tuple[Person, LocalAccount], frozen_now: datetime
) -> Callable[..., list[ledger.NewEntry]]:
    """A unit of one service-signed contribution by the member, with these fields changed."""
    person, _account = member
    return lambda **overrides: [ledger.NewEntry("Contribution", contribution(squad, person, frozen_now, **overrides))]


def inserts(statements: StatementCounter) -> int:
    return sum(statement.startswith("INSERT INTO ledger_entries") for statement in statements.statements)


async def test_concurrent_appends_share_one_insert_and_each_caller_gets_its_own_entry(
    session: AsyncSession,
    one: Callable[..., list[ledger.NewEntry]],
    appender: LedgerAppender,
    statements: StatementCounter,
) -> None:
    titles = [f"Deliverable {index}" for index in range(20)]
    statements.reset()
    appended = await asyncio.gather(*(appender.append(one(title=t)) for t in titles))
    assert [(entry.seq, ledger.decode_payload(entry)["title"]) for [entry] in appended] == list(
        enumerate(titles, start=1)
    )
    assert inserts(statements) == 1
    assert await entry_count(session) == 20


async def test_a_unit_that_breaks_a_rule_gets_its_error_and_the_rest_of_its_group_is_written(
    session: AsyncSession,
    one: Callable[..., list[ledger.NewEntry]],
    appender: LedgerAppender,
) -> None:
    import_with_a_bad_entry = [*one(), *one(points=0)]
    first, refused, last = await asyncio.gather(
        appender.append(one(title="First")),
        appender.append(import_with_a_bad_entry),
        appender.append(one(title="Last")),
        return_exceptions=True,
    )
    assert isinstance(refused, ValidationFailed)
    assert refused.message == f"entry 2 of 2: points must be between 1 and {ledger.MAX_POINTS}"
    assert isinstance(first, list) and isinstance(last, list)
    assert [(entry.seq, ledger.decode_payload(entry)["title"]) for entry in (*first, *last)] == [
        (1, "First"),
        (2, "Last"),
    ]
    assert await entry_count(session) == 2


async def test_the_same_signed_entry_sent_twice_at_once_is_appended_once(
    session: AsyncSession,
    squad: Squad,
    member: tuple[Person, LocalAccount],
    frozen_now: datetime,
    appender: LedgerAppender,
) -> None:
    person, account = member
    message = contribution(squad, person, frozen_now)
    signed = [ledger.NewEntry("Contribution", message, _sign(account, message))]
    written, replayed = await asyncio.gather(appender.append(signed), appender.append(signed), return_exceptions=True)
    assert isinstance(written, list) and [entry.seq for entry in written] == [1]
    assert isinstance(replayed, ValidationFailed)
    assert replayed.message == "this signed entry is already on the ledger as entry 1"
    with pytest.raises(ValidationFailed, match="already on the ledger as entry 1"):
        await appender.append(signed)  # alone: found on the ledger
    assert await entry_count(session) == 1


async def test_a_group_takes_whole_units_up_to_its_size_and_a_larger_unit_alone(
    session: AsyncSession,
    one: Callable[..., list[ledger.NewEntry]],
    runtime: Runtime,
    statements: StatementCounter,
) -> None:
    appender = LedgerAppender(runtime.session_factory, KEYS, max_group=3)
    sizes = [1, 1, 1, 1, 5, 1]  # groups: 1 + 1 + 1, then 1, then the 5 alone, then 1
    statements.reset()
    appended = await asyncio.gather(*(appender.append([new for _ in range(size) for new in one()]) for size in sizes))
    assert [len(entries) for entries in appended] == sizes
    assert [entry.seq for entries in appended for entry in entries] == list(range(1, 11))
    assert inserts(statements) == 4


async def test_a_unit_whose_caller_stops_waiting_is_written_all_the_same(
    session: AsyncSession,
    one: Callable[..., list[ledger.NewEntry]],
    appender: LedgerAppender,
) -> None:
    waiting = asyncio.create_task(appender.append(one()))
    await asyncio.sleep(0)  # queued, and the writer started
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await appender.close()
    assert await entry_count(session) == 1


async def test_when_the_group_cannot_be_written_every_caller_gets_the_error() -> None:
    unreachable = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/cellorg")
    appender = LedgerAppender(create_session_factory(unreachable), KEYS)
    message = ledger.contribution_message(
        project_id=1,
        contributor_id=1,
        kind="design",
        title="Never written",
        points=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        evidence=[],
    )
    try:
        results = await asyncio.gather(
            *(appender.append([ledger.NewEntry("Contribution", message)]) for _ in range(3)), return_exceptions=True
        )
    finally:
        await unreachable.dispose()
    assert all(isinstance(result, OSError) for result in results), results
    assert results[0] is results[1] is results[2]  # one failed transaction, the same error for each


async def test_on_an_sqlite_file_grouped_appends_land_beside_an_open_read(tmp_path: Path) -> None:
    """The embedded default as it runs: the appender's connection writes while a request's connection reads."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    factory = create_session_factory(engine)
    try:
        async with factory() as session:
            person = Person(name="Chen Jing", email="chen@example.com", active=True, created_at=utcnow())
            session.add(person)
            await session.flush()
            project = await projects.create_project(
                session,
                PolicyEnforcer(),
                name="Embedded",
                description="",
                owner_id=person.id,
                starts_at=utcnow() - timedelta(days=1),
                ends_at=utcnow() + timedelta(days=30),
                customer_unit_id=None,
                product_line_unit_id=None,
            )
            await commit(session)
        appender = LedgerAppender(factory, KEYS)
        async with factory() as request:
            assert await entry_count(request) == 0  # a read transaction stays open meanwhile
            appended = await asyncio.gather(
                *(
                    appender.append([ledger.NewEntry("Contribution", message)])
                    for message in (
                        ledger.contribution_message(
                            project_id=project.id,
                            contributor_id=person.id,
                            kind="review",
                            title=f"Review {index}",
                            points=5,
                            occurred_at=utcnow() - timedelta(minutes=1),
                            evidence=[],
                        )
                        for index in range(12)
                    )
                )
            )
        assert [entry.seq for [entry] in appended] == list(range(1, 13))
        async with factory() as session:
            assert await entry_count(session) == 12
    finally:
        await engine.dispose()
