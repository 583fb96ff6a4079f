from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.org.models import Person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service
from cellorg.projects.models import Project, SquadSlot
from tests.conftest import OrgBuilder

PROJECT_DAYS = 30


@dataclass
class Squad:
    project: Project
    owner: Person
    slots: dict[str, SquadSlot]

    @property
    def scope(self) -> str:
        return f"project:{self.project.id}"


class SquadBuilder:
    def __init__(self, session: AsyncSession, policy: PolicyEnforcer, build: OrgBuilder) -> None:
        self.session = session
        self.policy = policy
        self.build = build

    async def squad(
        self, *, now: datetime, roles: tuple[str, ...] = ("member",), allocation: int = 50, headcount: int = 3
    ) -> Squad:
        owner = await self.build.person("Sun Hao", role="manager")
        project = await service.create_project(
            self.session,
            self.policy,
            name="NEV Motors Line 3 bid",
            description="",
            owner_id=owner.id,
            starts_at=now,
            ends_at=now + timedelta(days=PROJECT_DAYS),
            customer_unit_id=None,
            product_line_unit_id=None,
        )
        slots = {
            role: await service.add_slot(
                self.session,
                project.id,
                title=f"{role} slot",
                role=role,
                headcount=headcount,
                allocation_pct=allocation,
            )
            for role in roles
        }
        return Squad(project, owner, slots)

    async def join(self, squad: Squad, role: str, person: Person | None = None) -> Person:
        person = person or await self.build.person()
        await service.add_member(
            self.session, self.policy, slot_id=squad.slots[role].id, person_id=person.id, added_by=None
        )
        return person


@pytest.fixture
def squads(session: AsyncSession, policy: PolicyEnforcer, build: OrgBuilder) -> SquadBuilder:
    return SquadBuilder(session, policy, build)
