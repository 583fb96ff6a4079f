"""The organisation of the reference story (shared SCENARIO.md), seeded through the domain services."""

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.org import service as org
from cellorg.org.models import Dimension, MembershipKind, Person
from cellorg.org.repository import person_by_email
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role
from cellorg.projects import okrs
from cellorg.projects import service as projects
from cellorg.projects.models import Outcome

DEMO_DOMAIN = "nev-demo.cellorg.example"
UNITS = {
    "region": ("HQ", "East China", "South China"),
    "function": ("Sales", "Engineering", "Finance", "Design"),
    "product_line": ("Industrial Automation", "Robotics"),
    "customer": ("NEV Motors",),
}


@dataclass(frozen=True)
class DemoPerson:
    name: str
    region: str
    function: str
    org_role: str | None = None

    @property
    def email(self) -> str:
        return f"{self.name.lower().replace(' ', '.')}@{DEMO_DOMAIN}"


STORY_PEOPLE = (
    DemoPerson("Wang Lei", "East China", "Sales"),
    DemoPerson("Chen Jing", "South China", "Engineering"),
    DemoPerson("Liu Yang", "HQ", "Finance"),
    DemoPerson("Zhao Min", "HQ", "Design"),
    DemoPerson("Sun Hao", "HQ", "Engineering", org_role="admin"),
    DemoPerson("Qian Li", "HQ", "Finance", org_role="finance"),
    DemoPerson("Zhou Wen", "HQ", "Finance", org_role="auditor"),
)
EXTRA_PEOPLE = 42
GIVEN = "Hua Jie Ning Bin Yan Kun Lan Peng Qing Rong Shu Ting Wen Xia Yi Zhen".split()
FAMILY = ["Gao", "He", "Hu", "Lin", "Luo", "Ma", "Song", "Tang", "Xie", "Xu", "Ye", "Zheng"]


async def seed_demo(session: AsyncSession, policy: PolicyEnforcer) -> bool:
    """Seed the story's organisation once; returns False when it is already there."""
    if await person_by_email(session, STORY_PEOPLE[0].email) is not None:
        return False
    dimensions = {d.key: d.id for d in (await session.scalars(select(Dimension))).all()}
    units: dict[str, int] = {}
    for key, names in UNITS.items():
        for name in names:
            units[name] = (await org.create_unit(session, dimension_id=dimensions[key], name=name, parent_id=None)).id
    rng = random.Random(2026)
    extras = [
        DemoPerson(f"{rng.choice(FAMILY)} {given}", rng.choice(UNITS["region"]), rng.choice(UNITS["function"]))
        for given in _distinct_given_names(rng)
    ]
    people: dict[str, int] = {}
    for demo_person in (*STORY_PEOPLE, *extras):
        person = await _add_person(session, policy, demo_person, units)
        people[demo_person.name] = person.id
        if demo_person.org_role is not None:
            await grant_role(
                session,
                policy,
                subject=subject_of_person(person.id),
                role=demo_person.org_role,
                granted_by=None,
                reason="demo organisation",
            )
    await _story_squad(session, policy, people, units)
    return True


@dataclass(frozen=True)
class DemoSlot:
    title: str
    role: str
    person: str


BID_SLOTS = (
    DemoSlot("Deal lead", "lead", "Wang Lei"),
    DemoSlot("Solution engineer", "member", "Chen Jing"),
    DemoSlot("Financing", "finance", "Liu Yang"),
    DemoSlot("UI/UX", "member", "Zhao Min"),
)
BID_DAYS, WON_ON_DAY = 30, 19


async def _story_squad(
    session: AsyncSession, policy: PolicyEnforcer, people: dict[str, int], units: dict[str, int]
) -> None:
    """Steps 1-4, 6 and 7: the bid squad forms on day 0, aligns with Robotics, is won and closed on day 19."""
    day_zero = clock.now() - timedelta(days=WON_ON_DAY)
    manager = people["Sun Hao"]
    with clock.frozen(day_zero):
        robotics = await projects.create_project(
            session,
            policy,
            name="Robotics cell pilot",
            description="A robot cell for the body shop.",
            owner_id=manager,
            starts_at=day_zero,
            ends_at=day_zero + timedelta(days=90),
            customer_unit_id=units["NEV Motors"],
            product_line_unit_id=units["Robotics"],
        )
        await projects.activate_project(session, robotics.id)
        cell = await okrs.add_objective(
            session, robotics.id, title="Ship the robotics cell for NEV Motors", description=""
        )
        bid = await projects.create_project(
            session,
            policy,
            name="NEV Motors Line 3 bid",
            description="Production-line order for NEV Motors' third assembly line.",
            owner_id=manager,
            starts_at=day_zero,
            ends_at=day_zero + timedelta(days=BID_DAYS),
            customer_unit_id=units["NEV Motors"],
            product_line_unit_id=units["Industrial Automation"],
        )
        for slot in BID_SLOTS:
            added = await projects.add_slot(
                session, bid.id, title=slot.title, role=slot.role, headcount=1, allocation_pct=50
            )
            await projects.add_member(session, policy, slot_id=added.id, person_id=people[slot.person], added_by=None)
        await projects.activate_project(session, bid.id)
        win = await okrs.add_objective(session, bid.id, title="Win the NEV Motors Line 3 contract", description="")
        proposal = await okrs.add_key_result(
            session,
            win.id,
            title="Proposal submitted by day 20",
            target="1",
            unit="proposal",
            due_at=day_zero + timedelta(days=20),
        )
        poc = await okrs.add_key_result(
            session, win.id, title="Proof of concept accepted", target="1", unit="PoC", due_at=None
        )
        await okrs.align(session, win.id, cell.id)
    with clock.frozen(day_zero + timedelta(days=WON_ON_DAY)):
        await okrs.record_progress(session, proposal.id, "1")
        await okrs.record_progress(session, poc.id, "1")
        await projects.close_project(session, policy, bid.id, outcome=Outcome.WON, closed_by=subject_of_person(manager))


def _distinct_given_names(rng: random.Random) -> list[str]:
    combos = [f"{a}{b.lower()}" for a in GIVEN for b in GIVEN if a != b]
    return rng.sample(combos, EXTRA_PEOPLE)


async def _add_person(
    session: AsyncSession, policy: PolicyEnforcer, demo_person: DemoPerson, units: dict[str, int]
) -> Person:
    person = await org.create_person(
        session,
        policy,
        name=demo_person.name,
        email=demo_person.email,
        home_unit_id=units[demo_person.function],
        created_by=None,
    )
    await org.add_membership(
        session,
        person_id=person.id,
        unit_id=units[demo_person.region],
        kind=MembershipKind.MATRIX,
        since=None,
        until=None,
    )
    return person
