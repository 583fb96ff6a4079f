"""The reference story's organisation, seeded and then read through the HTTP API by its people."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.db import commit
from cellorg.graphql.demo import EXTRA_PEOPLE, STORY_PEOPLE, seed_demo
from cellorg.org.repository import person_by_email
from cellorg.permissions.enforcer import PolicyEnforcer
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
