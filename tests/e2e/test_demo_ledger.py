"""Steps 5, 7 and 9 of the reference story: the squad's signed work on the ledger, and Zhou Wen's audit."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cellorg.core.db import commit
from cellorg.core.settings import get_settings
from cellorg.graphql.demo import STORY_CONTRIBUTIONS, STORY_DECISIONS, STORY_PEOPLE, seed_demo
from cellorg.ledger import chain
from cellorg.ledger import cli as ledger_cli
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.models import BonusStatement
from cellorg.ledger.bundle import BundleError, verify_bundle
from cellorg.ledger.replay import replay
from cellorg.org.models import Person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects.models import Project
from tests.conftest import Api
from tests.e2e.test_demo_org import token_of
from tests.ledger.test_bundle import leaves, with_flipped_bit
from tests.ledger.test_replay import tamper

KEYS = ledger.LedgerKeys.from_settings()
WALLETS = {person.name: person.wallet.address for person in STORY_PEOPLE}
ENTRIES = "{ ledgerEntries { seq entryType title points signer signedByService author { name } } }"


async def solution_design_bundle(api: Api, session: AsyncSession) -> dict[str, Any]:
    """Zhou Wen finds Chen Jing's solution design on the ledger and exports its proof bundle."""
    auditor = await token_of(api, session, "Zhou Wen")
    entries = (await api.post(ENTRIES, token=auditor))["data"]["ledgerEntries"]
    [design] = [e for e in entries if e["title"] == "Solution design"]
    bundle = await api.post(f"{{ proofBundle(seq: {design['seq']}) }}", token=auditor)
    found: dict[str, Any] = bundle["data"]["proofBundle"]
    return found


async def test_the_squad_signs_its_work_and_the_auditor_verifies_it(
    api: Api, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await seed_demo(session, policy)
    await commit(session)  # the checkpoint's anchor job runs on the embedded chain after the commit
    auditor = await token_of(api, session, "Zhou Wen")
    entries = (await api.post(ENTRIES, token=auditor))["data"]["ledgerEntries"]
    signed, [statement] = entries[:-1], entries[-1:]
    assert len(signed) == len(STORY_CONTRIBUTIONS) + len(STORY_DECISIONS) == 6
    assert all(not e["signedByService"] and e["signer"] == WALLETS[e["author"]["name"]] for e in signed)
    assert (statement["entryType"], statement["author"]["name"], statement["signer"]) == (
        "BONUS_STATEMENT",
        "He Ping",
        KEYS.service.address,
    )
    assert [(e["author"]["name"], e["title"]) for e in entries if e["entryType"] == "DECISION"] == [
        ("Wang Lei", "Offer five-year financing"),
        ("Wang Lei", "Modular line design"),
    ]
    assert sum(e["points"] for e in entries if e["points"]) == 115

    late = await api.post(
        """mutation($p: Int!) { recordContribution(input: {projectId: $p, kind: "review", title: "Late review",
            points: 5}) { __typename } }""",
        {"p": await session.scalar(select(Project.id).where(Project.name == "NEV Motors Line 3 bid"))},
        token=await token_of(api, session, "Chen Jing"),
    )
    assert late["data"]["recordContribution"]["__typename"] == "PermissionDenied"  # step 7: the grant ended

    checkpoints = (await api.post("{ ledgerCheckpoints { treeSize anchor { chainId } } }", token=auditor))["data"]
    assert [c["treeSize"] for c in checkpoints["ledgerCheckpoints"]] == [7, 6]
    assert checkpoints["ledgerCheckpoints"][0]["anchor"]["chainId"] == str(chain.connect(None).eth.chain_id)

    bundle = await solution_design_bundle(api, session)
    verified = verify_bundle(bundle, chain.connect(None), KEYS.service.address)
    assert (verified.signer, verified.tree_size, verified.anchored_on_chain) == (WALLETS["Chen Jing"], 7, True)
    for path, value in leaves(bundle):  # one bit flipped in any field fails
        with pytest.raises(BundleError):
            verify_bundle(with_flipped_bit(bundle, path, value), chain.connect(None), KEYS.service.address)

    report = await replay(session, KEYS, signatures=True)
    assert (report.ok, report.entries, report.checkpoints) == (True, 7, 2)
    await tamper(
        session,
        f"UPDATE ledger_entries SET payload = replace(payload, 'Solution design', 'Solution designs') "
        f"WHERE seq = {verified.seq}",
    )
    tampered = await replay(session, KEYS)
    assert tampered.first_mismatch is not None
    assert tampered.first_mismatch.seq == verified.seq


async def test_finance_pays_the_squad_from_the_ledger_to_the_cent(
    api: Api, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await seed_demo(session, policy)
    await commit(session)
    statement = await session.scalar(select(BonusStatement))
    assert statement is not None
    names = dict((await session.execute(select(Person.id, Person.name))).all())
    amounts = {names[line["personId"]]: Decimal(line["amount"]) for line in statement.content["lines"]}
    # weights: Chen Jing 40 x 1.2 = 48, Liu Yang 30, Zhao Min 25 x 1.2 = 30, Wang Lei 20 x 1.25 = 25 (of 133)
    assert amounts == {
        "Chen Jing": Decimal("43308.27"),
        "Liu Yang": Decimal("27067.67"),
        "Zhao Min": Decimal("27067.67"),
        "Wang Lei": Decimal("22556.39"),
    }
    assert sum(amounts.values()) == Decimal("120000.00")
    stored, recomputed = await bonus.recompute(session, statement.id)
    assert stored == recomputed
    chen = await api.post("{ myBonusLines { amount entries } }", token=await token_of(api, session, "Chen Jing"))
    assert chen["data"]["myBonusLines"] == [{"amount": "43308.27", "entries": [1]}]


async def test_the_demo_bundle_verifies_against_a_real_node(
    api: Api,
    session: AsyncSession,
    policy: PolicyEnforcer,
    rpc_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CELLORG_CHAIN_RPC_URL", rpc_url)
    get_settings.cache_clear()
    try:
        chain.fund_for_development(chain.connect(rpc_url), KEYS.service.address)
        await seed_demo(session, policy)
        await commit(session)  # the anchor job publishes on the node
    finally:
        monkeypatch.delenv("CELLORG_CHAIN_RPC_URL")
        get_settings.cache_clear()
    bundle_file = tmp_path / "solution-design.json"
    bundle_file.write_text(json.dumps(await solution_design_bundle(api, session)))
    args = ["verify-bundle", str(bundle_file), "--rpc", rpc_url, "--service-address", KEYS.service.address]
    verified = CliRunner().invoke(ledger_cli.app, args)
    assert verified.exit_code == 0, verified.output
    printed = " ".join(verified.output.split())  # Rich wraps lines at the terminal's width
    assert "anchor checked on chain" in printed
    assert f"entry 1 signed by {WALLETS['Chen Jing']}, included in the tree of 7 entries" in printed
