"""A won deal squad with contributions on the ledger, and two finance users outside it."""

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.settings import Settings
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.models import BonusRound
from cellorg.org.models import Person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.projects import service as projects
from cellorg.projects.models import Outcome
from tests.conftest import OrgBuilder
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings(Settings())
RULES: dict[str, Any] = {
    "kindWeights": {"design": "1.5", "customer meeting": "1"},
    "roleMultipliers": {"lead": "1.2"},
}


@pytest.fixture
def squads(session: AsyncSession, policy: PolicyEnforcer, build: OrgBuilder) -> SquadBuilder:
    return SquadBuilder(session, policy, build)


class Story:
    """A closed squad: a lead and two members with contributions, and two finance users outside it."""

    def __init__(self, squad: Squad, people: dict[str, Person]) -> None:
        self.squad = squad
        self.people = people

    @property
    def project_id(self) -> int:
        return self.squad.project.id


async def contribute(
    session: AsyncSession, story_squad: Squad, person: Person, kind: str, points: int, at: datetime
) -> int:
    message = ledger.contribution_message(
        project_id=story_squad.project.id,
        contributor_id=person.id,
        kind=kind,
        title=f"{kind} by {person.name}",
        points=points,
        occurred_at=at,
    )
    return (await ledger.record_entry(session, KEYS, "Contribution", message)).seq


@pytest.fixture
async def open_story(squads: SquadBuilder, session: AsyncSession, frozen_now: datetime) -> Story:
    squad = await squads.squad(now=frozen_now, roles=("lead", "member"))
    people = {
        "lead": await squads.join(squad, "lead", await squads.build.person("Wang Lei")),
        "chen": await squads.join(squad, "member", await squads.build.person("Chen Jing")),
        "zhao": await squads.join(squad, "member", await squads.build.person("Zhao Min")),
        "qian": await squads.build.person("Qian Li", role="finance"),
        "he": await squads.build.person("He Ping", role="finance"),
    }
    await projects.activate_project(session, squad.project.id)
    await contribute(session, squad, people["chen"], "design", 40, frozen_now)  # weight 60
    await contribute(session, squad, people["zhao"], "design", 20, frozen_now)  # weight 30
    await contribute(session, squad, people["lead"], "customer meeting", 25, frozen_now)  # weight 30
    return Story(squad, people)


async def close(session: AsyncSession, squads: SquadBuilder, story: Story) -> Story:
    await projects.close_project(session, squads.policy, story.project_id, outcome=Outcome.WON, closed_by=None)
    await ledger.publish_checkpoint(session, KEYS)
    return story


@pytest.fixture
async def story(session: AsyncSession, squads: SquadBuilder, open_story: Story) -> Story:
    """The story after the bid is won: the ledger checkpointed, the final round open."""
    return await close(session, squads, open_story)


async def final_round(
    session: AsyncSession, story: Story, rules: dict[str, Any] = RULES, **overrides: Any
) -> BonusRound:
    policy = await bonus.create_policy(session, name="Deal squads", rules=rules, created_by=story.people["qian"].id)
    fields = {"name": "final", "amount": "120000.00", "currency": "CNY"} | overrides
    return await bonus.create_round(
        session, project_id=story.project_id, policy_id=policy.id, created_by=story.people["qian"].id, **fields
    )
