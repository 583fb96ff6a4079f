"""The reference story's organisation, seeded and then read through the HTTP API by its people."""

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.core.db import commit
from cellorg.graphql.demo import BID_SLOTS, EXTRA_PEOPLE, STORY_CONSTRAINTS, STORY_PEOPLE, seed_demo
from cellorg.org.models import Person
from cellorg.org.repository import person_by_email
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.projects.models import Project
from cellorg.talent_pool import service as talent
from cellorg.talent_pool.matcher import Proposal
from cellorg.talent_pool.proposals import propose_squad
from tests.conftest import Api


async def token_of(api: Api, session: AsyncSession, name: str) -> str:
    [story_person] = [p for p in STORY_PEOPLE if p.name == name]
    person = await person_by_email(session, story_person.email)
    assert person is not None
    return api.token_for(person)


async def test_demo_story_organisation(api: Api, session: AsyncSession, policy: PolicyEnforcer) -> None:
    assert await seed_demo(session, policy) is True
    await commit(session)
    assert await seed_demo(session, policy) is False
    sun_hao = await token_of(api, session, "Sun Hao")
    result = await api.post(
        """{ people(first: 100, name: "@") { totalCount }
             all: people(first: 100) { totalCount }
             east: people(first: 50, dimensionKey: "region", name: "Wang") {
               edges { node { name homeUnit { name } memberships { unit { name } kind } } } }
             dimensionGraph(key: "function") { units { name } } }""",
        token=sun_hao,
    )
    data: dict[str, Any] = result["data"]
    assert data["people"]["totalCount"] == 0
    assert data["all"]["totalCount"] >= len(STORY_PEOPLE) + EXTRA_PEOPLE
    [wang] = [edge["node"] for edge in data["east"]["edges"] if edge["node"]["name"] == "Wang Lei"]
    assert wang["homeUnit"] == {"name": "Sales"}
    assert {"unit": {"name": "East China"}, "kind": "MATRIX"} in wang["memberships"]
    assert {u["name"] for u in data["dimensionGraph"]["units"]} >= {"Sales", "Engineering", "Finance", "Design"}


async def test_demo_roles_decide_what_each_person_may_do(
    api: Api, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await seed_demo(session, policy)
    await commit(session)
    trail = "{ grants(liveOnly: true) { role } }"
    assert "errors" not in await api.post(trail, token=await token_of(api, session, "Zhou Wen"))
    denied = await api.post(trail, token=await token_of(api, session, "Liu Yang"))
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    create = 'mutation { createUnit(dimensionKey: "customer", name: "Auto Corp") { __typename } }'
    assert (await api.post(create, token=await token_of(api, session, "Sun Hao")))["data"]["createUnit"] == {
        "__typename": "Unit"
    }
    assert (await api.post(create, token=await token_of(api, session, "Qian Li")))["data"]["createUnit"] == {
        "__typename": "PermissionDenied"
    }


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    assert (await api.client.get("/ready")).json() == {"status": "ready"}


async def test_story_squad_formed_won_closed_and_archived(
    api: Api, session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await seed_demo(session, policy)
    await commit(session)
    wang = await token_of(api, session, "Wang Lei")
    mine = await api.post("{ projects(status: [CLOSED]) { id name outcome } }", token=wang)
    assert mine["data"]["projects"] == []  # the squad dissolved: no live grant, no list entry
    auditor = await token_of(api, session, "Zhou Wen")
    closed = (await api.post("{ projects(status: [CLOSED]) { id name outcome } }", token=auditor))["data"]["projects"]
    [bid] = [p for p in closed if p["name"] == "NEV Motors Line 3 bid"]
    assert bid["outcome"] == "WON"

    archive = await api.post(f"{{ projectArchive(projectId: {bid['id']}) {{ content }} }}", token=wang)
    content = archive["data"]["projectArchive"]["content"]
    assert [(m["name"], m["role"], m["tenure_days"]) for m in content["members"]] == [
        ("Wang Lei", "lead", 19.0),
        ("Chen Jing", "member", 19.0),
        ("Liu Yang", "advisor", 19.0),
        ("Zhao Min", "member", 19.0),
    ]
    [objective] = content["okrs"]
    assert objective["objective"] == "Win the NEV Motors Line 3 contract"
    assert [kr["progress"] for kr in objective["key_results"]] == ["1.0000", "1.0000"]
    assert len(objective["aligned_with"]) == 1

    active = (await api.post("{ projects(status: [ACTIVE]) { id name } }", token=auditor))["data"]["projects"]
    [robotics] = [p for p in active if p["name"] == "Robotics cell pilot"]
    zhao = await token_of(api, session, "Zhao Min")
    hidden = await api.post(f"{{ project(id: {robotics['id']}) {{ name }} }}", token=zhao)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    liu = await token_of(api, session, "Liu Yang")
    after_close = await api.post(f"{{ project(id: {bid['id']}) {{ name }} }}", token=liu)
    assert after_close["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    aligned = await api.post(
        f"{{ project(id: {robotics['id']}) {{ objectives {{ alignedWith {{ title }} }} }} }}", token=auditor
    )
    assert aligned["data"]["project"]["objectives"][0]["alignedWith"] == [
        {"title": "Win the NEV Motors Line 3 contract"}
    ]


async def test_the_matcher_proposes_the_four_people_of_the_story_with_reasons(
    session: AsyncSession, policy: PolicyEnforcer
) -> None:
    await seed_demo(session, policy)
    await commit(session)
    bid = await session.scalar(select(Project).where(Project.name == "NEV Motors Line 3 bid"))
    assert bid is not None
    rerun = await projects.create_project(
        session,
        policy,
        name="Line 3 bid, second round",
        description="",
        owner_id=bid.owner_id,
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=30),
        customer_unit_id=bid.customer_unit_id,
        product_line_unit_id=bid.product_line_unit_id,
    )
    skills = {s.name: s.id for s in await talent.search_skills(session, None, include_pending=False)}
    for slot in BID_SLOTS:
        added = await projects.add_slot(
            session, rerun.id, title=slot.title, role=slot.role, headcount=1, allocation_pct=50
        )
        for skill, level in slot.needs:
            await talent.add_requirement(session, slot_id=added.id, skill_id=skills[skill], min_level=level, weight=1.0)
    proposal = await propose_squad(session, rerun.id, STORY_CONSTRAINTS)
    assert isinstance(proposal, Proposal), proposal
    chosen = [seat.person_id for seat in proposal.assignments]
    names = dict((await session.execute(select(Person.id, Person.name).where(Person.id.in_(chosen)))).all())
    assert [names[seat.person_id] for seat in proposal.assignments] == ["Wang Lei", "Chen Jing", "Liu Yang", "Zhao Min"]
    for seat in proposal.assignments:
        assert seat.score.parts["level"] > 0 and seat.score.parts["endorsements"] > 0
        assert seat.alternatives, f"no runner-up for slot {seat.slot_id}"
        assert all(alternative.score.total < seat.score.total for alternative in seat.alternatives)
