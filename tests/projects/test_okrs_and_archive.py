"""OKRs, alignment across squads, and the archive a closed project leaves behind."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.core.errors import ValidationFailed
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import okrs, service
from cellorg.projects.archive import archive_of, canonical
from cellorg.projects.models import Outcome
from tests.conftest import Api, OrgBuilder
from tests.projects.conftest import SquadBuilder

OBJECTIVES = """query($id: Int!) { project(id: $id) { objectives {
  title keyResults { title target current progress unit } alignedWith { title projectId } } } }"""


async def test_key_result_progress_and_alignment_read_from_both_sides(
    api: Api, squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    bid = await squads.squad(now=frozen_now)
    robotics = await squads.squad(now=frozen_now)
    win = await okrs.add_objective(session, bid.project.id, title="Win the NEV Motors Line 3 contract", description="")
    proposal = await okrs.add_key_result(
        session, win.id, title="Proposal submitted", target="1", unit="doc", due_at=None
    )
    await okrs.add_key_result(session, win.id, title="Proof of concept accepted", target="4", unit="tests", due_at=None)
    arms = await okrs.add_objective(session, robotics.project.id, title="Ship the robotics cell", description="")
    await okrs.align(session, win.id, arms.id)
    await okrs.record_progress(session, proposal.id, "1")
    await build.commit()

    bid_view = (await api.query(OBJECTIVES, {"id": bid.project.id}, as_=bid.owner))["data"]["project"]["objectives"]
    assert bid_view[0]["keyResults"][0] == {
        "title": "Proposal submitted",
        "target": "1.0000",
        "current": "1.0000",
        "progress": "1.0000",
        "unit": "doc",
    }
    assert bid_view[0]["keyResults"][1]["progress"] == "0.0000"
    # the bid's lead does not hold a grant in the robotics project: the link is not shown to them
    assert bid_view[0]["alignedWith"] == []
    robotics_view = await api.query(OBJECTIVES, {"id": robotics.project.id}, as_=robotics.owner)
    assert robotics_view["data"]["project"]["objectives"][0]["alignedWith"] == []
    auditor = await build.person(role="auditor")
    await build.commit()
    audited = (await api.query(OBJECTIVES, {"id": robotics.project.id}, as_=auditor))["data"]["project"]
    assert audited["objectives"][0]["alignedWith"] == [
        {"title": "Win the NEV Motors Line 3 contract", "projectId": bid.project.id}
    ]


async def test_okr_refusals(squads: SquadBuilder, session: AsyncSession, frozen_now) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    objective = await okrs.add_objective(session, squad.project.id, title="Win", description="")
    with pytest.raises(ValidationFailed, match="target must be above zero"):
        await okrs.add_key_result(session, objective.id, title="KR", target="0", unit="x", due_at=None)
    with pytest.raises(ValidationFailed, match="'ten' is not a number"):
        await okrs.add_key_result(session, objective.id, title="KR", target="ten", unit="x", due_at=None)
    other = await okrs.add_objective(session, squad.project.id, title="Other", description="")
    with pytest.raises(ValidationFailed, match="two different projects"):
        await okrs.align(session, objective.id, other.id)


async def test_closing_writes_an_archive_that_the_database_keeps_unchanged(
    squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    chen = await squads.join(squad, "member", await build.person("Chen Jing"))
    objective = await okrs.add_objective(session, squad.project.id, title="Win", description="")
    key_result = await okrs.add_key_result(session, objective.id, title="PoC", target="2", unit="tests", due_at=None)
    await okrs.record_progress(session, key_result.id, "1")
    await service.activate_project(session, squad.project.id)
    clock.advance(timedelta(days=19))
    await service.close_project(session, policy, squad.project.id, outcome=Outcome.WON, closed_by=None)
    await build.commit()

    archive = await archive_of(session, squad.project.id)
    assert archive is not None
    content = archive.content
    assert content["project"]["outcome"] == "won"
    assert [event["event"] for event in content["timeline"]] == ["created", "activated", "closed"]
    [member] = content["members"]
    assert (member["name"], member["role"], member["tenure_days"]) == ("Chen Jing", "member", 19.0)
    assert content["okrs"][0]["key_results"][0]["progress"] == str(Decimal("0.5000"))
    assert archive.content_sha256 == hashlib.sha256(canonical(content).encode()).hexdigest()
    assert chen.id == member["person_id"]

    for statement in ("UPDATE project_archives SET content_sha256 = 'x'", "DELETE FROM project_archives"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session.begin_nested():
                await session.execute(text(statement))


async def test_former_members_and_auditors_read_the_archive_nobody_else(
    api: Api, squads: SquadBuilder, build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    squad = await squads.squad(now=frozen_now)
    member = await squads.join(squad, "member")
    outsider = await build.person()
    auditor = await build.person(role="auditor")
    await service.close_project(session, policy, squad.project.id, outcome=Outcome.CANCELLED, closed_by=None)
    await build.commit()
    query = "query($id: Int!) { projectArchive(projectId: $id) { contentSha256 content } }"
    for reader in (member, auditor, squad.owner):
        result = await api.query(query, {"id": squad.project.id}, as_=reader)
        assert result["data"]["projectArchive"]["content"]["project"]["outcome"] == "cancelled"
    refused = await api.query(query, {"id": squad.project.id}, as_=outsider)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
