"""Proposing and accepting a squad, through the API, against the real talent pool queries."""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.talent_pool import service as talent
from tests.conftest import Api, OrgBuilder

PROPOSE = """mutation($p: Int!, $c: SquadConstraintsInput) { proposeSquad(projectId: $p, constraints: $c) {
  __typename
  ... on SquadProposal { total seats { slotTitle chosen { person { name } score parts { name value } }
                                      alternatives { person { name } } } }
  ... on InfeasibleSquad { reasons }
  ... on Error { message } } }"""


async def staffed_world(build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, now: Any) -> dict[str, Any]:
    """A bid with an engineer slot (PLC >= 4) and a designer slot (interaction design >= 3)."""
    curator = await build.person("Curator", role="admin")
    plc = await talent.add_skill(
        session,
        name="PLC programming",
        category="Engineering",
        parent_id=None,
        aliases=[],
        proposed_by=None,
        approved_by=curator.id,
    )
    design = await talent.add_skill(
        session,
        name="Interaction design",
        category="Design",
        parent_id=None,
        aliases=[],
        proposed_by=None,
        approved_by=curator.id,
    )
    east, south = await build.unit("East"), await build.unit("South")
    people = {}
    for name, region, skill, level in (
        ("Chen Jing", south, plc.id, 5),
        ("Gao Bin", east, plc.id, 4),
        ("Zhao Min", east, design.id, 4),
        ("Lin Hua", south, design.id, 3),
        ("Xu Low", south, plc.id, 2),
    ):
        person = await build.person(name, home_unit=region)
        await talent.claim_skill(session, person_id=person.id, skill_id=skill, level=level, evidence=[])
        people[name] = person
    manager = await build.person("Sun Hao", role="manager")
    project = await projects.create_project(
        session,
        policy,
        name="Line 3 bid",
        description="",
        owner_id=manager.id,
        starts_at=now,
        ends_at=now + timedelta(days=30),
        customer_unit_id=None,
        product_line_unit_id=None,
    )
    engineer = await projects.add_slot(
        session, project.id, title="Solution engineer", role="member", headcount=1, allocation_pct=50
    )
    designer = await projects.add_slot(
        session, project.id, title="UI/UX", role="member", headcount=1, allocation_pct=50
    )
    await talent.add_requirement(session, slot_id=engineer.id, skill_id=plc.id, min_level=4, weight=1.0)
    await talent.add_requirement(session, slot_id=designer.id, skill_id=design.id, min_level=3, weight=1.0)
    await build.commit()
    return {"project": project, "manager": manager, "people": people, "engineer": engineer, "designer": designer}


async def test_the_best_squad_is_proposed_with_reasons_and_runners_up(
    api: Api, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    world = await staffed_world(build, session, policy, frozen_now)
    result = await api.query(PROPOSE, {"p": world["project"].id}, as_=world["manager"])
    assert result.get("data"), result
    proposal = result["data"]["proposeSquad"]
    assert proposal["__typename"] == "SquadProposal"
    seats = {seat["slotTitle"]: seat for seat in proposal["seats"]}
    assert seats["Solution engineer"]["chosen"]["person"]["name"] == "Chen Jing"
    assert seats["Solution engineer"]["alternatives"] == [{"person": {"name": "Gao Bin"}}]  # Xu Low is below level 4
    assert seats["UI/UX"]["chosen"]["person"]["name"] == "Zhao Min"
    parts = {p["name"]: p["value"] for p in seats["Solution engineer"]["chosen"]["parts"]}
    assert parts["level"] == 1.25
    assert proposal["total"] == seats["Solution engineer"]["chosen"]["score"] + seats["UI/UX"]["chosen"]["score"]


async def test_a_diversity_constraint_changes_the_squad_and_an_impossible_one_is_explained(
    api: Api, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    world = await staffed_world(build, session, policy, frozen_now)
    one_per_region = {"maxPerUnit": [{"dimension": "region", "limit": 1}]}
    capped = await api.query(PROPOSE, {"p": world["project"].id, "c": one_per_region}, as_=world["manager"])
    names = {seat["chosen"]["person"]["name"] for seat in capped["data"]["proposeSquad"]["seats"]}
    assert names == {"Chen Jing", "Zhao Min"}  # already one South, one East
    both_south = {"maxPerUnit": [{"dimension": "region", "limit": 1}], "exclude": [world["people"]["Zhao Min"].id]}
    forced = await api.query(PROPOSE, {"p": world["project"].id, "c": both_south}, as_=world["manager"])
    names = {seat["chosen"]["person"]["name"] for seat in forced["data"]["proposeSquad"]["seats"]}
    assert names == {"Gao Bin", "Lin Hua"}  # Chen and Lin are both South: the engineer seat goes East
    three_regions = {"minDistinctUnits": [{"dimension": "region", "count": 3}]}
    impossible = await api.query(PROPOSE, {"p": world["project"].id, "c": three_regions}, as_=world["manager"])
    infeasible = impossible["data"]["proposeSquad"]
    assert infeasible["__typename"] == "InfeasibleSquad"
    assert any("3 distinct region units" in reason for reason in infeasible["reasons"])


async def test_accepting_staffs_the_squad_with_grants(
    api: Api, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    world = await staffed_world(build, session, policy, frozen_now)
    seats = [
        {"slotId": world["engineer"].id, "personId": world["people"]["Chen Jing"].id},
        {"slotId": world["designer"].id, "personId": world["people"]["Zhao Min"].id},
    ]
    accept = """mutation($p: Int!, $s: [SeatInput!]!) { acceptProposal(projectId: $p, seats: $s) {
        __typename ... on Staffed { memberIds } ... on Error { message } } }"""
    result = await api.query(accept, {"p": world["project"].id, "s": seats}, as_=world["manager"])
    assert len(result["data"]["acceptProposal"]["memberIds"]) == 2
    chen = world["people"]["Chen Jing"]
    assert policy.enforce(f"person:{chen.id}", f"project:{world['project'].id}", "contributions", "write")
    again = await api.query(accept, {"p": world["project"].id, "s": seats[:1]}, as_=world["manager"])
    assert again["data"]["acceptProposal"] == {
        "__typename": "ValidationError",
        "message": f"person {chen.id} is already in this squad",
    }
    refused = await api.query(PROPOSE, {"p": world["project"].id}, as_=chen)
    assert refused["data"]["proposeSquad"]["__typename"] == "PermissionDenied"
