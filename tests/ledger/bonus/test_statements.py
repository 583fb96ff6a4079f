"""Bonus rounds from the ledger: exact statements, computed once, approved by a second finance user, reproducible."""

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.errors import ValidationFailed
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.models import BonusRound, BonusStatement
from cellorg.ledger.models import LedgerEntry
from cellorg.ledger.replay import replay
from tests.ledger.bonus.conftest import KEYS, RULES, Story, close, final_round
from tests.ledger.test_replay import tamper
from tests.projects.conftest import SquadBuilder


def amounts(statement: BonusStatement, story: Story) -> dict[str, str]:
    names = {person.id: key for key, person in story.people.items()}
    return {names[line["personId"]]: line["amount"] for line in statement.content["lines"]}


async def test_a_statement_splits_the_pool_by_weighted_points_to_the_cent(session: AsyncSession, story: Story) -> None:
    bonus_round = await final_round(session, story)
    statement = await bonus.compute_statement(session, bonus_round.id, computed_by=story.people["qian"].id)
    # weights 60 : 30 : 30 (design x1.5; the lead's meeting x1 x1.2 = 30)
    assert amounts(statement, story) == {"chen": "60000.00", "zhao": "30000.00", "lead": "30000.00"}
    assert sum(Decimal(line["amount"]) for line in statement.content["lines"]) == Decimal("120000.00")
    assert [line["entries"] for line in statement.content["lines"]] == [[3], [1], [2]]
    assert statement.content["checkpoint"]["treeSize"] == 3


async def test_an_odd_pool_is_exact_and_the_cents_left_over_go_by_largest_remainder(
    session: AsyncSession, story: Story
) -> None:
    bonus_round = await final_round(session, story, amount="100.01")
    statement = await bonus.compute_statement(session, bonus_round.id)
    # 100.01 x 1/2 = 50.005, x 1/4 = 25.0025 twice: the one cent left goes to the largest remainder
    assert amounts(statement, story) == {"chen": "50.01", "zhao": "25.00", "lead": "25.00"}


async def test_computing_twice_gives_one_statement_and_recomputing_the_same_hash(
    session: AsyncSession, story: Story
) -> None:
    bonus_round = await final_round(session, story)
    first = await bonus.compute_statement(session, bonus_round.id)
    again = await bonus.compute_statement(session, bonus_round.id)
    assert again.id == first.id
    assert await session.scalar(select(func.count()).select_from(BonusStatement)) == 1
    stored, recomputed = await bonus.recompute(session, first.id)
    assert stored == recomputed == first.statement_hash


async def test_one_changed_contribution_changes_the_recomputed_hash(session: AsyncSession, story: Story) -> None:
    bonus_round = await final_round(session, story)
    statement = await bonus.compute_statement(session, bonus_round.id)
    await tamper(session, "UPDATE ledger_entries SET points = 41 WHERE seq = 1")
    stored, recomputed = await bonus.recompute(session, statement.id)
    assert stored == statement.statement_hash
    assert recomputed != stored


async def test_caps_floors_and_peer_points_shape_the_split(session: AsyncSession, story: Story) -> None:
    capped = await final_round(session, story, rules=RULES | {"cap": {"share": "0.4"}}, name="interim 1")
    statement = await bonus.compute_statement(session, capped.id)
    assert amounts(statement, story) == {"chen": "48000.00", "zhao": "36000.00", "lead": "36000.00"}

    peer = await final_round(session, story, rules=RULES | {"peerWeight": "0.5"}, name="interim 2")
    chen, zhao, lead = (story.people[key].id for key in ("chen", "zhao", "lead"))
    await bonus.give_peer_points(session, peer.id, chen, {zhao: 100})
    await bonus.give_peer_points(session, peer.id, lead, {zhao: 100})
    await bonus.give_peer_points(session, peer.id, zhao, {chen: 50, lead: 50})
    blended = await bonus.compute_statement(session, peer.id)
    # contributions 1/2, 1/4, 1/4; peer points 50/300, 200/300, 50/300; blended half and half
    assert amounts(blended, story) == {"chen": "40000.00", "zhao": "55000.00", "lead": "25000.00"}
    assert blended.content["peerAllocations"] == sorted(
        [[chen, zhao, 100], [lead, zhao, 100], [zhao, chen, 50], [zhao, lead, 50]]
    )


async def test_an_amendment_replaces_the_entry_it_amends(
    session: AsyncSession, squads: SquadBuilder, open_story: Story, frozen_now: datetime
) -> None:
    story = open_story
    correction = ledger.contribution_message(
        project_id=story.project_id,
        contributor_id=story.people["chen"].id,
        kind="design",
        title="Solution design (corrected points)",
        points=20,
        occurred_at=frozen_now,
        amends=1,
    )
    await ledger.record_entries(session, KEYS, [ledger.NewEntry("Contribution", correction)])
    await close(session, squads, story)
    bonus_round = await final_round(session, story)
    statement = await bonus.compute_statement(session, bonus_round.id)
    assert amounts(statement, story) == {"chen": "40000.00", "zhao": "40000.00", "lead": "40000.00"}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "-5"}, "amount", "positive amount"),
        ({"amount": "lots"}, "amount", "not a number"),
        ({"amount": "10.001"}, "amount", "CNY amounts have 2 decimal places"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217 currency"),
        ({"rules": RULES | {"cap": {"share": "0.3"}}}, "cap", "less than the pool"),
        ({"rules": RULES | {"floor": {"amount": "50000"}}}, "floor", "more than the pool"),
        ({"rules": RULES | {"kindWeights": {"lunch": "2"}}}, "kindWeights", "unknown lunch"),
        ({"rules": RULES | {"peerWeight": "1.5"}}, "peerWeight", "between 0 and 1"),
    ],
)
async def test_bad_rounds_are_refused_and_write_nothing(
    session: AsyncSession, story: Story, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message) as refused:
        async with session.begin_nested():
            await final_round(session, story, **overrides)
    assert refused.value.field == field
    assert await session.scalar(select(func.count()).select_from(BonusRound)) == 0


async def test_a_final_round_waits_for_the_close_and_a_project_without_contributions_gets_none(
    session: AsyncSession, squads: SquadBuilder, frozen_now: datetime, story: Story
) -> None:
    empty = await squads.squad(now=frozen_now)
    policy = await bonus.create_policy(session, name="Empty", rules={}, created_by=story.people["qian"].id)
    round_fields = {"amount": "10.00", "currency": "CNY", "policy_id": policy.id, "created_by": story.people["qian"].id}
    with pytest.raises(ValidationFailed, match="after the project closes"):
        await bonus.create_round(session, project_id=empty.project.id, name="final", **round_fields)
    with pytest.raises(ValidationFailed, match="no contributions on the ledger"):
        await bonus.create_round(session, project_id=empty.project.id, name="interim", **round_fields)


async def test_peer_points_must_sum_to_100_and_never_go_to_oneself(session: AsyncSession, story: Story) -> None:
    bonus_round = await final_round(session, story)
    chen, zhao = story.people["chen"].id, story.people["zhao"].id
    with pytest.raises(ValidationFailed, match="hands out 90 points"):
        await bonus.give_peer_points(session, bonus_round.id, chen, {zhao: 90})
    with pytest.raises(ValidationFailed, match="cannot give points to themselves"):
        await bonus.give_peer_points(session, bonus_round.id, chen, {chen: 50, zhao: 50})
    with pytest.raises(ValidationFailed, match="only the squad's members"):
        await bonus.give_peer_points(session, bonus_round.id, story.people["qian"].id, {zhao: 100})


async def test_a_second_finance_user_outside_the_squad_approves_and_the_ledger_records_it(
    session: AsyncSession, story: Story
) -> None:
    bonus_round = await final_round(session, story)
    statement = await bonus.compute_statement(session, bonus_round.id, computed_by=story.people["qian"].id)
    with pytest.raises(ValidationFailed, match="computed a statement cannot approve it"):
        await bonus.approve_statement(session, KEYS, statement.id, story.people["qian"].id)
    with pytest.raises(ValidationFailed, match="paid from"):
        await bonus.approve_statement(session, KEYS, statement.id, story.people["lead"].id)
    approval = await bonus.approve_statement(session, KEYS, statement.id, story.people["he"].id)
    entry = await session.get(LedgerEntry, approval.ledger_seq)
    assert entry is not None
    assert (entry.entry_type, entry.project_id, entry.author_id) == (
        "BonusStatement",
        story.project_id,
        story.people["he"].id,
    )
    assert ledger.decode_payload(entry)["statementHash"] == "0x" + statement.statement_hash.hex()
    assert ledger.decode_payload(entry)["amount"] == 12_000_000
    with pytest.raises(ValidationFailed, match="already approved"):
        await bonus.approve_statement(session, KEYS, statement.id, story.people["he"].id)
    await ledger.publish_checkpoint(session, KEYS)
    report = await replay(session, KEYS, signatures=True)
    assert (report.ok, report.entries) == (True, 4)
