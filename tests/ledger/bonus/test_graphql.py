"""A bonus round through /graphql: finance sets it up, a job computes it, a second finance user approves it,
members see their own line, finance exports it."""

import csv
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.ledger.bonus.models import BonusRound, BonusStatement
from cellorg.org.models import Person
from tests.conftest import Api, OrgBuilder, StatementCounter
from tests.ledger.bonus.conftest import RULES, Story

POLICY = """mutation($rules: JSON!) { createBonusPolicy(name: "Deal squads", rules: $rules) {
  __typename ... on BonusPolicy { id version } ... on ValidationError { message field } } }"""
ROUND = """mutation($input: BonusRoundInput!) { createBonusRound(input: $input) {
  __typename ... on BonusRound { id amount currency } ... on ValidationError { message field }
  ... on PermissionDenied { action } } }"""
COMPUTE = """mutation($round: Int!) { computeBonusStatement(roundId: $round) {
  __typename ... on BonusComputationQueued { treeSize } } }"""
STATEMENTS = """query($round: Int!) { bonusStatements(roundId: $round) {
  id statementHash approval { ledgerSeq } lines { person { name } role points amount entries } } }"""
APPROVE = """mutation($id: Int!) { approveBonusStatement(statementId: $id) {
  __typename ... on BonusStatement { approval { ledgerSeq } } ... on ValidationError { message } } }"""


async def call(api: Api, who: Person, document: str, **variables: Any) -> Any:
    result = await api.query(document, variables, as_=who)
    assert "errors" not in result, result
    return next(iter(result["data"].values()))


async def test_finance_runs_a_round_from_pool_to_approved_statement(
    api: Api, story: Story, build: OrgBuilder, session: AsyncSession
) -> None:
    await build.commit()
    qian, he, chen = story.people["qian"], story.people["he"], story.people["chen"]
    policy = await call(api, qian, POLICY, rules=RULES)
    assert policy == {"__typename": "BonusPolicy", "id": policy["id"], "version": 1}
    round_input = {
        "projectId": story.project_id,
        "name": "final",
        "amount": "120000.00",
        "currency": "CNY",
        "policyId": policy["id"],
    }
    refused = await call(api, chen, ROUND, input=round_input)
    assert refused == {"__typename": "PermissionDenied", "action": "manage bonus"}
    negative = await call(api, qian, ROUND, input=round_input | {"amount": "-1"})
    assert (negative["__typename"], negative["field"]) == ("ValidationError", "amount")
    created = await call(api, qian, ROUND, input=round_input)
    assert (created["amount"], created["currency"]) == ("120000.00", "CNY")

    queued = await call(api, qian, COMPUTE, round=created["id"])
    assert queued == {"__typename": "BonusComputationQueued", "treeSize": 3}
    await call(api, qian, COMPUTE, round=created["id"])  # same inputs: the job finds the statement it made
    assert await session.scalar(select(func.count()).select_from(BonusStatement)) == 1
    [statement] = await call(api, qian, STATEMENTS, round=created["id"])
    assert [(line["person"]["name"], line["amount"]) for line in statement["lines"]] == [
        ("Wang Lei", "30000.00"),
        ("Chen Jing", "60000.00"),
        ("Zhao Min", "30000.00"),
    ]

    by_computer = await call(api, qian, APPROVE, id=statement["id"])
    assert by_computer == {
        "__typename": "ValidationError",
        "message": "the user who computed a statement cannot approve it",
    }
    approved = await call(api, he, APPROVE, id=statement["id"])
    assert approved["approval"]["ledgerSeq"] == 4

    mine = await call(api, chen, "{ myBonusLines { amount points entries } }")
    assert mine == [{"amount": "60000.00", "points": 40, "entries": [1]}]
    exported = await call(
        api, he, "query($id: Int!) { bonusStatementExport(statementId: $id, format: CSV) }", id=statement["id"]
    )
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(row["name"], row["amount"], row["currency"], row["entries"]) for row in rows] == [
        ("Wang Lei", "30000.00", "CNY", "3"),
        ("Chen Jing", "60000.00", "CNY", "1"),
        ("Zhao Min", "30000.00", "CNY", "2"),
    ]
    hidden = await api.query(STATEMENTS, {"round": created["id"]}, as_=chen)
    assert [e["extensions"]["code"] for e in hidden["errors"]] == ["FORBIDDEN"]  # the squad dissolved


async def test_the_statements_page_loads_the_members_in_one_query(
    api: Api, story: Story, build: OrgBuilder, session: AsyncSession, statements: StatementCounter
) -> None:
    await build.commit()
    qian = story.people["qian"]
    policy = await call(api, qian, POLICY, rules=RULES)
    round_input = {"projectId": story.project_id, "name": "final", "amount": "99.99", "currency": "CNY"}
    created = await call(api, qian, ROUND, input=round_input | {"policyId": policy["id"]})
    await call(api, qian, COMPUTE, round=created["id"])
    assert await session.scalar(select(func.count()).select_from(BonusRound)) == 1
    statements.reset()
    [statement] = await call(api, qian, STATEMENTS, round=created["id"])
    assert sum(Decimal(line["amount"]) for line in statement["lines"]) == Decimal("99.99")
    assert statements.count == 3, statements.statements  # the round, the statements with approvals, the people
