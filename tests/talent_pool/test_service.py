"""The talent pool's rules: curated taxonomy, claims with history, endorsements, availability."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.talent_pool import service
from cellorg.talent_pool.models import SkillClaim, SkillStatus
from cellorg.talent_pool.service import Evidence
from tests.conftest import Api, OrgBuilder


async def approved_skill(session: AsyncSession, build: OrgBuilder, name: str = "PLC programming") -> int:
    curator = (await build.person("Curator", role="admin")).id
    robotics = await service.add_skill(
        session,
        name=f"Robotics for {name}",
        category="Engineering",
        parent_id=None,
        aliases=[],
        proposed_by=None,
        approved_by=None,
    )
    await service.decide_skill(session, robotics.id, approve=True, decided_by=curator)
    skill = await service.add_skill(
        session,
        name=name,
        category="Engineering",
        parent_id=robotics.id,
        aliases=["PLC", "SPS"],
        proposed_by=None,
        approved_by=curator,
    )
    return skill.id


async def test_proposed_skill_is_pending_until_a_curator_decides(build: OrgBuilder, session: AsyncSession) -> None:
    member = await build.person()
    proposed = await service.add_skill(
        session,
        name="  Interaction   design ",
        category="Design",
        parent_id=None,
        aliases=[],
        proposed_by=member.id,
        approved_by=None,
    )
    assert (proposed.name, proposed.status) == ("Interaction design", SkillStatus.PENDING)
    with pytest.raises(ValidationFailed, match="only approved skills are claimed"):
        await service.claim_skill(session, person_id=member.id, skill_id=proposed.id, level=3, evidence=[])
    with pytest.raises(ValidationFailed, match="already exists"):
        await service.add_skill(
            session,
            name="interaction DESIGN",
            category="Design",
            parent_id=None,
            aliases=[],
            proposed_by=None,
            approved_by=member.id,
        )
    decided = await service.decide_skill(session, proposed.id, approve=True, decided_by=member.id)
    assert decided.status is SkillStatus.APPROVED
    assert [s.name for s in await service.search_skills(session, "interaction", include_pending=False)] == [
        "Interaction design"
    ]


async def test_search_finds_aliases(build: OrgBuilder, session: AsyncSession) -> None:
    await approved_skill(session, build)
    assert [s.name for s in await service.search_skills(session, "sps", include_pending=False)] == ["PLC programming"]


async def test_a_new_level_supersedes_the_claim_and_keeps_it(build: OrgBuilder, session: AsyncSession) -> None:
    person = await build.person("Chen Jing")
    skill = await approved_skill(session, build)
    first = await service.claim_skill(
        session, person_id=person.id, skill_id=skill, level=3, evidence=[Evidence(text="Line 2 retrofit")]
    )
    same = await service.claim_skill(
        session,
        person_id=person.id,
        skill_id=skill,
        level=3,
        evidence=[Evidence(url="https://git.example/plc/line2")],
    )
    assert same.id == first.id
    assert [e["url"] for e in same.evidence] == [None, "https://git.example/plc/line2"]
    higher = await service.claim_skill(session, person_id=person.id, skill_id=skill, level=4, evidence=[])
    history = (
        await session.scalars(select(SkillClaim).where(SkillClaim.person_id == person.id).order_by(SkillClaim.id))
    ).all()
    assert [(claim.level, claim.superseded_at is None) for claim in history] == [(3, False), (4, True)]
    assert higher.level == 4


@pytest.mark.parametrize(
    ("level", "evidence", "message"),
    [
        (0, [], "a level is 1 to 5"),
        (6, [], "a level is 1 to 5"),
        (3, [Evidence(url="javascript:alert(1)")], "is not an http"),
        (3, [Evidence()], "needs a text or a link"),
    ],
)
async def test_claim_input_is_validated(
    build: OrgBuilder, session: AsyncSession, level: int, evidence: list[Evidence], message: str
) -> None:
    person = await build.person()
    skill = await approved_skill(session, build)
    with pytest.raises(ValidationFailed, match=message):
        await service.claim_skill(session, person_id=person.id, skill_id=skill, level=level, evidence=evidence)


async def test_endorsement_refusals_and_the_shared_squad_discount(
    build: OrgBuilder, session: AsyncSession, policy: PolicyEnforcer, frozen_now
) -> None:  # type: ignore[no-untyped-def]
    chen = await build.person("Chen Jing")
    wang = await build.person("Wang Lei")
    liu = await build.person("Liu Yang")
    claim = await service.claim_skill(
        session, person_id=chen.id, skill_id=await approved_skill(session, build), level=4, evidence=[]
    )
    with pytest.raises(ValidationFailed, match="nobody endorses their own claim"):
        await service.endorse(session, claim_id=claim.id, endorser_id=chen.id, comment="")
    stranger = await service.endorse(session, claim_id=claim.id, endorser_id=liu.id, comment="saw the PoC")
    assert stranger.shared_squad is False
    with pytest.raises(ValidationFailed, match="already endorsed"):
        await service.endorse(session, claim_id=claim.id, endorser_id=liu.id, comment="")

    project = await projects.create_project(
        session,
        policy,
        name="Earlier bid",
        description="",
        owner_id=wang.id,
        starts_at=frozen_now,
        ends_at=frozen_now + timedelta(days=30),
        customer_unit_id=None,
        product_line_unit_id=None,
    )
    slot = await projects.add_slot(session, project.id, title="Crew", role="member", headcount=2, allocation_pct=10)
    for person in (chen, wang):
        await projects.add_member(session, policy, slot_id=slot.id, person_id=person.id, added_by=None)
    teammate = await service.endorse(session, claim_id=claim.id, endorser_id=wang.id, comment="")
    assert teammate.shared_squad is True
    with pytest.raises(NotFoundError, match="SkillClaim 424242"):
        await service.endorse(session, claim_id=424242, endorser_id=wang.id, comment="")


async def test_availability_periods_do_not_overlap(build: OrgBuilder, session: AsyncSession) -> None:
    person = await build.person()
    await service.set_availability(
        session, person_id=person.id, starts_on=date(2027, 1, 1), ends_on=date(2027, 1, 31), capacity_pct=50
    )
    with pytest.raises(ValidationFailed, match="overlaps"):
        await service.set_availability(
            session, person_id=person.id, starts_on=date(2027, 1, 31), ends_on=date(2027, 2, 10), capacity_pct=80
        )
    with pytest.raises(ValidationFailed, match="capacity is 0 to 100"):
        await service.set_availability(
            session, person_id=person.id, starts_on=date(2027, 3, 1), ends_on=date(2027, 3, 2), capacity_pct=120
        )


async def test_member_claims_through_the_api_and_bad_input_writes_nothing(
    api: Api, build: OrgBuilder, session: AsyncSession
) -> None:
    member = await build.person("Zhao Min")
    skill = await approved_skill(session, build, "Interaction design")
    await build.commit()
    claim = """mutation($skill: Int!, $level: Int!) { claimSkill(skillId: $skill, level: $level,
        evidence: [{text: "Demo UI for NEV", url: "https://design.example/nev"}]) {
        __typename ... on SkillClaim { level evidence { url } } ... on ValidationError { field message } } }"""
    bad = await api.query(claim, {"skill": skill, "level": 7}, as_=member)
    assert bad["data"]["claimSkill"] == {
        "__typename": "ValidationError",
        "field": "level",
        "message": "a level is 1 to 5",
    }
    assert await service.current_claim(session, member.id, skill) is None
    good = await api.query(claim, {"skill": skill, "level": 3}, as_=member)
    assert good["data"]["claimSkill"] == {
        "__typename": "SkillClaim",
        "level": 3,
        "evidence": [{"url": "https://design.example/nev"}],
    }
    listed = await api.query(f"{{ claims(personId: {member.id}) {{ level skillId }} }}", as_=member)
    assert listed["data"]["claims"] == [{"level": 3, "skillId": skill}]


async def test_a_members_proposal_waits_for_a_curator_through_the_api(api: Api, build: OrgBuilder) -> None:
    member = await build.person("Zhao Min")
    curator = await build.person("Sun Hao", role="admin")
    await build.commit()
    skill = "... on Skill { id name status } ... on Error { message }"
    proposed = await api.query(
        f'mutation {{ proposeSkill(name: "Service design", category: "Design") {{ {skill} }} }}', as_=member
    )
    assert proposed["data"]["proposeSkill"]["status"] == "pending"
    curated = await api.query(
        f'mutation {{ addSkill(name: "Motion design", category: "Design") {{ {skill} }} }}', as_=member
    )
    assert curated["data"]["addSkill"] == {"message": "not allowed to curate skills in org"}
    decided = await api.query(
        f"mutation {{ decideSkill(skillId: {proposed['data']['proposeSkill']['id']}, approve: true) {{ {skill} }} }}",
        as_=curator,
    )
    assert decided["data"]["decideSkill"]["status"] == "approved"


async def test_endorsements_and_availability_are_readable(api: Api, build: OrgBuilder, session: AsyncSession) -> None:
    chen = await build.person("Chen Jing")
    liu = await build.person("Liu Yang")
    claim = await service.claim_skill(
        session, person_id=chen.id, skill_id=await approved_skill(session, build), level=4, evidence=[]
    )
    await service.endorse(session, claim_id=claim.id, endorser_id=liu.id, comment="saw the PoC")
    await service.set_availability(
        session, person_id=chen.id, starts_on=date(2027, 1, 1), ends_on=date(2027, 1, 31), capacity_pct=60
    )
    await build.commit()
    result = await api.query(
        f"{{ endorsements(claimId: {claim.id}) {{ endorserId sharedSquad }}"
        f" availability(personId: {chen.id}) {{ startsOn endsOn capacityPct }} }}",
        as_=liu,
    )
    assert result["data"] == {
        "endorsements": [{"endorserId": liu.id, "sharedSquad": False}],
        "availability": [{"startsOn": "2027-01-01", "endsOn": "2027-01-31", "capacityPct": 60}],
    }
