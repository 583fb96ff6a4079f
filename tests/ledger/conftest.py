import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.permissions.enforcer import PolicyEnforcer
from tests.conftest import OrgBuilder
from tests.projects.conftest import SquadBuilder


@pytest.fixture
def squads(session: AsyncSession, policy: PolicyEnforcer, build: OrgBuilder) -> SquadBuilder:
    return SquadBuilder(session, policy, build)
