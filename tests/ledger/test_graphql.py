"""The ledger through /graphql: who records and reads what, wallet-signed entries, proofs and checkpoints."""

from datetime import datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.settings import Settings
from cellorg.ledger import service as ledger
from cellorg.ledger.bundle import verify_bundle
from cellorg.ledger.models import LedgerEntry
from cellorg.org.models import Person
from cellorg.projects import service as projects
from cellorg.projects.archive import archive_of
from cellorg.projects.models import Outcome
from cellorg.talent_pool import service as talent
from tests.conftest import Api, OrgBuilder, StatementCounter
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings(Settings())
CONTENT_HASH = "0x" + "cd" * 32
RECORD_CONTRIBUTION = """mutation($input: ContributionInput!) { recordContribution(input: $input) {
  __typename
  ... on LedgerEntry { seq entryType kind points title skills evidence { uri contentHash } signer signedByService
                       author { name } }
  ... on ValidationError { message field }
  ... on PermissionDenied { action scope } } }"""
RECORD_DECISION = """mutation($input: DecisionInput!) { recordDecision(input: $input) {
  __typename ... on LedgerEntry { seq entryType title rationale alternatives }
  ... on PermissionDenied { action } } }"""
RECORD_SIGNED = """mutation($typedData: JSON!, $signature: String!) {
  recordSignedEntry(typedData: $typedData, signature: $signature) {
    __typename ... on LedgerEntry { seq signer signedByService } ... on ValidationError { message field } } }"""
TYPED_DATA = """query($input: ContributionInput!) { contributionTypedData(input: $input) }"""
ENTRIES = """query($project: Int, $type: EntryType) { ledgerEntries(projectId: $project, entryType: $type) {
  seq entryType title author { name } } }"""


@pytest.fixture
async def squad(squads: SquadBuilder, frozen_now: datetime) -> Squad:
    return await squads.squad(now=frozen_now, roles=("lead", "member", "observer"))


def contribution(squad: Squad, **overrides: Any) -> dict[str, Any]:
    fields = {
        "projectId": squad.project.id,
        "kind": "design",
        "title": "Line 3 solution design",
        "points": 40,
        "evidence": [{"uri": "https://files.example.com/design.pdf", "contentHash": CONTENT_HASH}],
    }
    return fields | overrides


async def entry_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def record(api: Api, who: Person, **overrides: Any) -> dict[str, Any]:
    result = await api.query(RECORD_CONTRIBUTION, {"input": contribution_of(overrides)}, as_=who)
    assert "errors" not in result, result
    recorded: dict[str, Any] = result["data"]["recordContribution"]
    return recorded


def contribution_of(overrides: dict[str, Any]) -> dict[str, Any]:
    squad = overrides.pop("squad")
    return contribution(squad, **overrides)


async def test_a_member_records_a_contribution_signed_by_the_service(
    api: Api, squads: SquadBuilder, squad: Squad, build: OrgBuilder
) -> None:
    chen = await squads.join(squad, "member", await build.person("Chen Jing"))
    await build.commit()
    entry = await record(api, chen, squad=squad)
    assert entry["__typename"] == "LedgerEntry"
    assert (entry["seq"], entry["entryType"], entry["kind"], entry["points"]) == (1, "CONTRIBUTION", "design", 40)
    assert entry["evidence"] == [{"uri": "https://files.example.com/design.pdf", "contentHash": CONTENT_HASH}]
    assert (entry["signer"], entry["signedByService"], entry["author"]) == (
        KEYS.service.address,
        True,
        {"name": "Chen Jing"},
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"points": 0}, "points", "between 1 and 100"),
        ({"points": 101}, "points", "between 1 and 100"),
        ({"kind": "lunch"}, "kind", "kind must be one of"),
        ({"evidence": [{"uri": "ftp://x", "contentHash": CONTENT_HASH}]}, "evidence", "not an http(s) URL"),
        ({"evidence": [{"uri": "https://x.example", "contentHash": "0x12"}]}, "message", "32 bytes"),
        ({"title": " "}, "title", "must not be empty"),
        ({"skills": ["Telepathy"]}, "skills", "not approved skills: Telepathy"),
    ],
)
async def test_bad_input_is_a_typed_error_and_appends_nothing(
    api: Api,
    squads: SquadBuilder,
    squad: Squad,
    session: AsyncSession,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    member = await squads.join(squad, "member")
    await squads.build.commit()
    entry = await record(api, member, squad=squad, **overrides)
    assert (entry["__typename"], entry["field"]) == ("ValidationError", field)
    assert message in entry["message"]
    assert await entry_count(session) == 0


async def test_only_squad_members_with_a_live_grant_record_and_a_closed_project_takes_nothing(
    api: Api, squads: SquadBuilder, squad: Squad, session: AsyncSession, frozen_now: datetime
) -> None:
    member = await squads.join(squad, "member")
    outsider = await squads.build.person("Outsider")
    observer = await squads.join(squad, "observer")
    await squads.build.commit()
    for caller in (outsider, observer):
        refused = await record(api, caller, squad=squad)
        assert (refused["__typename"], refused["action"]) == ("PermissionDenied", "write contributions")
    await projects.activate_project(session, squad.project.id)
    await projects.close_project(session, squads.policy, squad.project.id, outcome=Outcome.WON, closed_by=None)
    await squads.build.commit()
    after_close = await record(api, member, squad=squad)
    assert after_close["__typename"] == "PermissionDenied"  # the grant ended with the project
    assert await entry_count(session) == 0


async def test_leads_record_decisions_and_members_do_not(api: Api, squads: SquadBuilder, squad: Squad) -> None:
    lead = await squads.join(squad, "lead", await squads.build.person("Wang Lei"))
    member = await squads.join(squad, "member")
    await squads.build.commit()
    decision = {
        "projectId": squad.project.id,
        "title": "Bid with the modular line design",
        "rationale": "Cuts the customer's changeover time by a third",
        "alternatives": ["Retrofit the existing line"],
    }
    taken = (await api.query(RECORD_DECISION, {"input": decision}, as_=lead))["data"]["recordDecision"]
    assert taken == {
        "__typename": "LedgerEntry",
        "seq": 1,
        "entryType": "DECISION",
        "title": decision["title"],
        "rationale": decision["rationale"],
        "alternatives": decision["alternatives"],
    }
    refused = (await api.query(RECORD_DECISION, {"input": decision}, as_=member))["data"]["recordDecision"]
    assert refused == {"__typename": "PermissionDenied", "action": "write decisions"}


async def test_a_member_signs_the_typed_data_in_their_own_wallet(
    api: Api, squads: SquadBuilder, squad: Squad, session: AsyncSession
) -> None:
    wallet = Account.create()
    chen = await squads.join(squad, "member", await squads.build.person("Chen Jing"))
    chen.eth_address = wallet.address
    await squads.build.commit()
    typed = (await api.query(TYPED_DATA, {"input": contribution(squad)}, as_=chen))["data"]["contributionTypedData"]
    assert typed["message"]["contributorId"] == chen.id
    signature = wallet.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()

    signed = await api.query(RECORD_SIGNED, {"typedData": typed, "signature": signature}, as_=chen)
    assert signed["data"]["recordSignedEntry"] == {
        "__typename": "LedgerEntry",
        "seq": 1,
        "signer": wallet.address,
        "signedByService": False,
    }
    replayed = await api.query(RECORD_SIGNED, {"typedData": typed, "signature": signature}, as_=chen)
    assert replayed["data"]["recordSignedEntry"] == {
        "__typename": "ValidationError",
        "message": "this signed entry is already on the ledger as entry 1",
        "field": "signature",
    }
    assert await entry_count(session) == 1


async def test_a_signed_entry_is_refused_for_a_foreign_key_or_another_author(
    api: Api, squads: SquadBuilder, squad: Squad, session: AsyncSession
) -> None:
    wallet, stranger = Account.create(), Account.create()
    chen = await squads.join(squad, "member", await squads.build.person("Chen Jing"))
    other = await squads.join(squad, "member", await squads.build.person("Liu Yang"))
    chen.eth_address = wallet.address
    await squads.build.commit()
    typed = (await api.query(TYPED_DATA, {"input": contribution(squad)}, as_=chen))["data"]["contributionTypedData"]
    forged = stranger.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
    by_stranger = await api.query(RECORD_SIGNED, {"typedData": typed, "signature": forged}, as_=chen)
    assert by_stranger["data"]["recordSignedEntry"]["field"] == "signature"
    assert f"made by {stranger.address}, not by Chen Jing's key" in by_stranger["data"]["recordSignedEntry"]["message"]
    genuine = wallet.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
    by_other = await api.query(RECORD_SIGNED, {"typedData": typed, "signature": genuine}, as_=other)
    assert by_other["data"]["recordSignedEntry"] == {
        "__typename": "ValidationError",
        "message": "contributorId must be the caller: record your own entries",
        "field": "contributorId",
    }
    short = await api.query(RECORD_SIGNED, {"typedData": typed, "signature": genuine[:-2]}, as_=chen)
    assert short["data"]["recordSignedEntry"]["field"] == "signature"
    assert await entry_count(session) == 0


async def test_members_read_their_project_observers_its_decisions_and_auditors_everything(
    api: Api, squads: SquadBuilder, squad: Squad, frozen_now: datetime, session: AsyncSession
) -> None:
    lead = await squads.join(squad, "lead", await squads.build.person("Wang Lei"))
    member = await squads.join(squad, "member", await squads.build.person("Chen Jing"))
    observer = await squads.join(squad, "observer")
    other = await squads.squad(now=frozen_now, roles=("member",))
    stranger = await squads.join(other, "member", await squads.build.person("Stranger"))
    auditor = await squads.build.person("Zhou Wen", role="auditor")
    for message in (contribution_message(squad, member, frozen_now), contribution_message(other, stranger, frozen_now)):
        await ledger.record_entry(session, KEYS, "Contribution", message)
    decision = ledger.decision_message(
        project_id=squad.project.id,
        decided_by_id=lead.id,
        title="Go",
        rationale="Margin holds",
        alternatives=[],
        decided_at=frozen_now,
    )
    await ledger.record_entry(session, KEYS, "Decision", decision)
    await squads.build.commit()

    async def seqs(who: Person, **variables: Any) -> Any:
        result = await api.query(ENTRIES, variables, as_=who)
        return [e["seq"] for e in result["data"]["ledgerEntries"]] if result["data"] else result["errors"]

    project = squad.project.id
    assert await seqs(member, project=project) == [1, 3]
    assert await seqs(observer, project=project) == [3]
    assert await seqs(auditor) == [1, 2, 3]
    assert await seqs(auditor, project=project, type="CONTRIBUTION") == [1]
    assert [e["extensions"]["code"] for e in await seqs(stranger, project=project)] == ["FORBIDDEN"]
    assert [e["extensions"]["code"] for e in await seqs(member)] == ["FORBIDDEN"]


def contribution_message(squad: Squad, person: Person, at: datetime) -> dict[str, Any]:
    return ledger.contribution_message(
        project_id=squad.project.id, contributor_id=person.id, kind="review", title="Review", points=10, occurred_at=at
    )


@pytest.mark.parametrize("size", [2, 20])
async def test_the_entry_list_statements_do_not_grow_with_the_list(
    api: Api,
    squads: SquadBuilder,
    squad: Squad,
    session: AsyncSession,
    statements: StatementCounter,
    frozen_now: datetime,
    size: int,
) -> None:
    authors = [await squads.join(squad, "member") for _ in range(3)]
    for index in range(size):
        author = authors[index % len(authors)]
        await ledger.record_entry(session, KEYS, "Contribution", contribution_message(squad, author, frozen_now))
    await squads.build.commit()
    statements.reset()
    result = await api.query(ENTRIES, {"project": squad.project.id}, as_=authors[0])
    assert len(result["data"]["ledgerEntries"]) == size
    assert statements.count == 2, statements.statements  # the entries, their authors


async def test_an_auditor_publishes_a_checkpoint_and_a_member_gets_a_bundle_that_verifies_offline(
    api: Api, squads: SquadBuilder, squad: Squad, session: AsyncSession, frozen_now: datetime
) -> None:
    member = await squads.join(squad, "member")
    auditor = await squads.build.person("Zhou Wen", role="auditor")
    for _ in range(3):
        await ledger.record_entry(session, KEYS, "Contribution", contribution_message(squad, member, frozen_now))
    await squads.build.commit()
    refused = await api.query("mutation { publishCheckpoint { __typename } }", as_=member)
    assert refused["data"]["publishCheckpoint"]["__typename"] == "PermissionDenied"
    published = await api.query(
        "mutation { publishCheckpoint { ... on Checkpoint { treeSize root signer } } }", as_=auditor
    )
    checkpoint = published["data"]["publishCheckpoint"]
    assert (checkpoint["treeSize"], checkpoint["signer"]) == (3, KEYS.service.address)
    listed = await api.query("{ ledgerCheckpoints { treeSize anchor { blockNumber } } }", as_=member)
    assert listed["data"]["ledgerCheckpoints"][0]["treeSize"] == 3
    assert listed["data"]["ledgerCheckpoints"][0]["anchor"]["blockNumber"] >= 1  # anchored after the commit

    bundle = (await api.query("query { proofBundle(seq: 2) }", as_=member))["data"]["proofBundle"]
    verified = verify_bundle(bundle, service_address=KEYS.service.address)
    assert (verified.seq, verified.tree_size, verified.root) == (2, 3, checkpoint["root"])
    outsider = await squads.build.person("Outsider")
    await squads.build.commit()
    denied = await api.query("query { proofBundle(seq: 2) }", as_=outsider)
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    missing = await api.query("query { proofBundle(seq: 99) }", as_=auditor)
    assert [e["extensions"]["code"] for e in missing["errors"]] == ["NOT_FOUND"]


async def test_the_archive_keeps_the_projects_decisions_contributions_contributors_and_skills(
    squads: SquadBuilder, squad: Squad, session: AsyncSession, frozen_now: datetime
) -> None:
    lead = await squads.join(squad, "lead", await squads.build.person("Wang Lei"))
    chen = await squads.join(squad, "member", await squads.build.person("Chen Jing"))
    await projects.activate_project(session, squad.project.id)
    skill = await talent.add_skill(
        session,
        name="Robotics",
        category="Engineering",
        parent_id=None,
        aliases=[],
        proposed_by=None,
        approved_by=lead.id,
    )
    design = contribution_message(squad, chen, frozen_now) | {"points": 40, "skills": [skill.name]}
    workshop = contribution_message(squad, lead, frozen_now) | {"points": 15}
    for message in (design, workshop, contribution_message(squad, chen, frozen_now)):
        await ledger.record_entry(session, KEYS, "Contribution", message)
    decision = ledger.decision_message(
        project_id=squad.project.id,
        decided_by_id=lead.id,
        title="Modular line design",
        rationale="Cuts changeover time",
        alternatives=["Retrofit"],
        decided_at=frozen_now,
    )
    recorded = await ledger.record_entry(session, KEYS, "Decision", decision)
    await projects.close_project(session, squads.policy, squad.project.id, outcome=Outcome.WON, closed_by=None)

    archive = await archive_of(session, squad.project.id)
    assert archive is not None
    content = archive.content
    assert content["version"] == 2
    assert [(d["seq"], d["title"], d["decided_by"]) for d in content["decisions"]] == [
        (4, "Modular line design", "Wang Lei")
    ]
    assert content["decisions"][0]["leaf_hash"] == "0x" + recorded.leaf_hash.hex()
    assert [(c["seq"], c["contributor"], c["points"]) for c in content["contributions"]] == [
        (1, "Chen Jing", 40),
        (2, "Wang Lei", 15),
        (3, "Chen Jing", 10),
    ]
    assert [(c["name"], c["entries"], c["points"]) for c in content["contributors"]] == [
        ("Chen Jing", 2, 50),
        ("Wang Lei", 1, 15),
    ]
    assert content["skills_used"] == ["Robotics"]


async def test_a_member_imports_contributions_all_or_none(
    api: Api, squads: SquadBuilder, squad: Squad, session: AsyncSession
) -> None:
    member = await squads.join(squad, "member")
    other = await squads.squad(now=squad.project.starts_at, roles=("member",))
    await squads.build.commit()
    document = """mutation($inputs: [ContributionInput!]!) { recordContributions(inputs: $inputs) {
      __typename ... on LedgerEntries { entries { seq points } } ... on ValidationError { message field }
      ... on PermissionDenied { scope } } }"""
    batch = [contribution(squad, points=points, title=f"Part {points}") for points in (10, 20, 30)]
    recorded = await api.query(document, {"inputs": batch}, as_=member)
    assert recorded["data"]["recordContributions"]["entries"] == [
        {"seq": 1, "points": 10},
        {"seq": 2, "points": 20},
        {"seq": 3, "points": 30},
    ]
    one_bad = [*batch, contribution(squad, points=0)]
    refused = await api.query(document, {"inputs": one_bad}, as_=member)
    assert refused["data"]["recordContributions"] == {
        "__typename": "ValidationError",
        "message": "entry 4 of 4: points must be between 1 and 100",
        "field": "points",
    }
    foreign = await api.query(document, {"inputs": [*batch, contribution(other)]}, as_=member)
    assert foreign["data"]["recordContributions"] == {
        "__typename": "PermissionDenied",
        "scope": f"project:{other.project.id}",
    }
    assert await entry_count(session) == 3
