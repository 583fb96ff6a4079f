"""The organisation of the reference story (shared SCENARIO.md), seeded through the domain services."""

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.org import service as org
from cellorg.org.models import Dimension, MembershipKind, Person
from cellorg.org.repository import person_by_email
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role

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
    for demo_person in (*STORY_PEOPLE, *extras):
        person = await _add_person(session, policy, demo_person, units)
        if demo_person.org_role is not None:
            await grant_role(
                session,
                policy,
                subject=subject_of_person(person.id),
                role=demo_person.org_role,
                granted_by=None,
                reason="demo organisation",
            )
    await session.flush()
    return True


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
