"""Deal squads through /graphql: the squad page's statement count, typed refusals, visibility."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.permissions.models import Grant
from cellorg.projects import service
from cellorg.projects.models import Outcome, SquadMember
from tests.conftest import Api, OrgBuilder, StatementCounter
from tests.projects.conftest import SquadBuilder

SQUAD_PAGE = """query($id: Int!) { project(id: $id) {
  name status endsAt owner { name } customer { name }
  slots { title role headcount }
  members { role allocationPct joinedAt person { name homeUnit { name } } }
} }"""


@pytest.mark.parametrize("size", [2, 20])
async def test_squad_page_statements_do_not_grow_with_the_squad(
    api: Api, squads: SquadBuilder, build: OrgBuilder, statements: StatementCounter, frozen_now, size: int
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now, roles=("member", "advisor"), allocation=10, headcount=10)
    home = await build.unit(f"Home {size}", dimension="function")
    for index in range(size):
        await squads.join(squad, "member" if index % 2 else "advisor", await build.person(home_unit=home))
    await build.commit()
    statements.reset()
    result = await api.query(SQUAD_PAGE, {"id": squad.project.id}, as_=squad.owner)
    members = result["data"]["project"]["members"]
    assert len(members) == size
    assert {m["person"]["homeUnit"]["name"] for m in members} == {f"Home {size}"}
    # project, its owner, slots, members, the members as people, their home units: for 2 and for 20
    assert statements.count == 6, statements.statements


async def test_a_manager_forms_a_squad_through_the_api(
    api: Api, build: OrgBuilder, session: AsyncSession, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    manager = await build.person("Sun Hao", role="manager")
    chen = await build.person("Chen Jing")
    await build.commit()

    async def call(document: str, **variables: Any) -> Any:
        result = await api.query(document, variables, as_=manager)
        assert "errors" not in result, result
        return next(iter(result["data"].values()))

    ends = (frozen_now + timedelta(days=30)).isoformat()
    project = await call(
        """mutation($ends: DateTime!) { createProject(input: {name: "NEV Motors Line 3 bid", endsAt: $ends}) {
            ... on Project { id status owner { name } } } }""",
        ends=ends,
    )
    assert project["status"] == "DRAFT"
    assert project["owner"] == {"name": "Sun Hao"}
    slot = await call(
        """mutation($p: Int!) { addSquadSlot(input: {projectId: $p, title: "Solution engineer", role: "member",
            allocationPct: 60}) { ... on SquadSlot { id } } }""",
        p=project["id"],
    )
    member = await call(
        """mutation($s: Int!, $who: Int!) { addSquadMember(slotId: $s, personId: $who) {
            ... on SquadMember { id role allocationPct } } }""",
        s=slot["id"],
        who=chen.id,
    )
    assert member["role"] == "member"
    assert member["allocationPct"] == 60
    duplicate = await call(
        """mutation($s: Int!, $who: Int!) { addSquadMember(slotId: $s, personId: $who) {
            __typename ... on ValidationError { message field } } }""",
        s=slot["id"],
        who=chen.id,
    )
    assert duplicate == {
        "__typename": "ValidationError",
        "message": f"person {chen.id} is already in this squad",
        "field": "personId",
    }
    assert (
        await session.scalar(select(func.count()).select_from(SquadMember).where(SquadMember.person_id == chen.id)) == 1
    )
    activated = await call(
        "mutation($p: Int!) { activateProject(id: $p) { ... on Project { status } } }", p=project["id"]
    )
    assert activated == {"status": "ACTIVE"}
    illegal = await call(
        "mutation($p: Int!) { archiveProject(id: $p) { __typename ... on Error { message } } }", p=project["id"]
    )
    assert illegal == {"__typename": "ValidationError", "message": "cannot move a project from active to archived"}

    chen_reads = await api.query(SQUAD_PAGE, {"id": project["id"]}, as_=chen)
    assert chen_reads["data"]["project"]["members"][0]["person"]["name"] == "Chen Jing"
    chen_staffs = await api.query(
        """mutation($s: Int!, $who: Int!) { addSquadMember(slotId: $s, personId: $who) { __typename } }""",
        {"s": slot["id"], "who": manager.id},
        as_=chen,
    )
    assert chen_staffs["data"]["addSquadMember"] == {"__typename": "PermissionDenied"}

    clock.advance(timedelta(days=19))
    closed = await call(
        "mutation($p: Int!) { closeProject(id: $p, outcome: WON) { ... on Project { status outcome closedAt } } }",
        p=project["id"],
    )
    assert closed["outcome"] == "WON"
    after_close = await api.query(SQUAD_PAGE, {"id": project["id"]}, as_=chen)
    assert after_close["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    live = await session.scalar(
        select(func.count())
        .select_from(Grant)
        .where(Grant.scope == f"project:{project['id']}", Grant.revoked_at.is_(None))
    )
    assert live == 0


async def test_projects_list_shows_only_projects_the_caller_is_in(
    api: Api, squads: SquadBuilder, build: OrgBuilder, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    first = await squads.squad(now=frozen_now)
    second = await squads.squad(now=frozen_now)
    zhao = await squads.join(first, "member")
    auditor = await build.person(role="auditor")
    await build.commit()
    mine = await api.query("{ projects { id } }", as_=zhao)
    assert mine["data"]["projects"] == [{"id": first.project.id}]
    other = await api.query("query($id: Int!) { project(id: $id) { name } }", {"id": second.project.id}, as_=zhao)
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    everything = await api.query("{ projects(status: [DRAFT]) { id } }", as_=auditor)
    assert {first.project.id, second.project.id} <= {p["id"] for p in everything["data"]["projects"]}


async def test_projects_filter_by_customer_member_and_end(
    api: Api, squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, frozen_now
) -> None:  # type: ignore[no-untyped-def]

    customer = await build.unit("NEV Motors", dimension="customer")
    owner = await build.person(role="manager")
    ours = await service.create_project(
        session,
        squads.policy,
        name="For NEV",
        description="",
        owner_id=owner.id,
        starts_at=frozen_now,
        ends_at=frozen_now + timedelta(days=10),
        customer_unit_id=customer,
        product_line_unit_id=None,
    )
    other = await squads.squad(now=frozen_now)
    chen = await squads.join(other, "member")
    auditor = await build.person(role="auditor")
    await build.commit()

    async def ids(arguments: str) -> set[int]:
        result = await api.query(f"{{ projects({arguments}) {{ id }} }}", as_=auditor)
        return {project["id"] for project in result["data"]["projects"]}

    assert await ids(f"customerUnitId: {customer}") == {ours.id}
    assert await ids(f"memberPersonId: {chen.id}") == {other.project.id}
    soon = (frozen_now + timedelta(days=11)).isoformat()
    assert ours.id in await ids(f'endsBefore: "{soon}"')
    assert other.project.id not in await ids(f'endsBefore: "{soon}"')


async def test_auditors_read_who_granted_and_ended_what_in_a_project(
    api: Api, squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, frozen_now
) -> None:  # type: ignore[no-untyped-def]

    squad = await squads.squad(now=frozen_now)
    await squads.join(squad, "member")
    auditor = await build.person(role="auditor")
    clock.advance(timedelta(days=3))
    await service.close_project(
        session, squads.policy, squad.project.id, outcome=Outcome.CANCELLED, closed_by=f"person:{squad.owner.id}"
    )
    await build.commit()
    trail = await api.query(
        f'{{ grants(scope: "{squad.scope}") {{ role reason validFrom revokedAt revokedBy revokeReason }} }}',
        as_=auditor,
    )
    ended = {(g["role"], g["revokedBy"], g["revokeReason"]) for g in trail["data"]["grants"]}
    assert ended == {
        ("lead", f"person:{squad.owner.id}", "project closed: cancelled"),
        ("member", f"person:{squad.owner.id}", "project closed: cancelled"),
    }
