"""The org graph through /graphql: queries, mutations, typed errors, and statement counts."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.org import repository as repo
from cellorg.org.models import Person, Unit
from tests.conftest import Api, OrgBuilder, StatementCounter

PEOPLE_PAGE = """
query Page($first: Int!, $after: String, $unitId: Int, $deep: Boolean!, $name: String, $dimension: String) {
  people(first: $first, after: $after, unitId: $unitId, includeDescendants: $deep, name: $name,
         dimensionKey: $dimension) {
    edges { node { id name email homeUnit { name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def page(api: Api, viewer: Person, **variables: Any) -> dict[str, Any]:
    variables = {"first": 50, "deep": False} | variables
    result = await api.query(PEOPLE_PAGE, variables, as_=viewer)
    assert "errors" not in result, result
    people: dict[str, Any] = result["data"]["people"]
    return people


@pytest.mark.parametrize("size", [5, 50])
async def test_people_page_statement_count_does_not_grow_with_the_page(
    api: Api, build: OrgBuilder, statements: StatementCounter, size: int
) -> None:
    team = await build.unit(f"Team of {size}", dimension="function")
    viewer = None
    for index in range(size):
        viewer = await build.person(f"Counted {index:02d}", home_unit=team)
    await build.commit()
    assert viewer is not None
    statements.reset()
    result = await page(api, viewer, unitId=team)
    assert len(result["edges"]) == size
    assert {edge["node"]["homeUnit"]["name"] for edge in result["edges"]} == {f"Team of {size}"}
    # the unit filter, then the page joined with each person's home unit: the same for 5 and for 50
    assert statements.count == 2, statements.statements


@pytest.mark.parametrize("size", [3, 30])
async def test_unit_members_load_home_units_in_one_batch(
    api: Api, build: OrgBuilder, statements: StatementCounter, size: int
) -> None:
    team = await build.unit(f"Batch {size}", dimension="function")
    viewer = None
    for index in range(size):
        viewer = await build.person(f"Member {index:02d}", home_unit=team)
    await build.commit()
    statements.reset()
    result = await api.query(
        "query($id: Int!) { unit(id: $id) { members { ... on Person { homeUnit { name } } } } }",
        {"id": team},
        as_=viewer,
    )
    assert [m["homeUnit"]["name"] for m in result["data"]["unit"]["members"]] == [f"Batch {size}"] * size
    # the unit, its members, their home units through the DataLoader
    assert statements.count == 3, statements.statements


async def test_home_unit_selected_through_a_fragment_is_loaded_with_the_page(
    api: Api, build: OrgBuilder, statements: StatementCounter
) -> None:
    team = await build.unit("Fragment Team", dimension="function")
    viewer = await build.person("Fragment Viewer", home_unit=team)
    await build.commit()
    statements.reset()
    query = """fragment Home on Person { homeUnit { name } }
      query($unit: Int!) { people(first: 5, unitId: $unit) { edges { node { ...Home } } } }"""
    result = await api.query(query, {"unit": team}, as_=viewer)
    assert result["data"]["people"]["edges"] == [{"node": {"homeUnit": {"name": "Fragment Team"}}}]
    assert statements.count == 2, statements.statements


async def test_people_pages_follow_the_cursor_without_overlap(api: Api, build: OrgBuilder) -> None:
    team = await build.unit("Paged", dimension="function")
    viewer = await build.person("Viewer", home_unit=None)
    for index in range(7):
        await build.person(f"Paged {index}", home_unit=team)
    await build.commit()
    seen: list[str] = []
    after = None
    while True:
        result = await page(api, viewer, first=3, after=after, unitId=team)
        seen += [edge["node"]["name"] for edge in result["edges"]]
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == [f"Paged {i}" for i in range(7)]


async def test_people_filtered_by_unit_subtree_dimension_and_name(api: Api, build: OrgBuilder) -> None:
    china = await build.unit("China")
    east = await build.unit("East China", parent=china)
    viewer = await build.person("Chen Jing", home_unit=china)
    await build.person("Wang Lei", home_unit=east)
    await build.person("Zhao Min", home_unit=await build.unit("Design", dimension="function"))
    await build.commit()

    def names(result: dict[str, Any]) -> list[str]:
        return [edge["node"]["name"] for edge in result["edges"]]

    assert names(await page(api, viewer, unitId=china)) == ["Chen Jing"]
    assert names(await page(api, viewer, unitId=china, deep=True)) == ["Chen Jing", "Wang Lei"]
    assert "Zhao Min" in names(await page(api, viewer, dimension="function", name="zhao"))
    assert names(await page(api, viewer, dimension="region", name="zhao")) == []


async def test_unit_with_ancestors_descendants_and_members(api: Api, build: OrgBuilder) -> None:
    china = await build.unit("China")
    east = await build.unit("East China", parent=china)
    await build.unit("Shanghai", parent=east)
    viewer = await build.person("Wang Lei", home_unit=east)
    await build.commit()
    query = """query($id: Int!) { unit(id: $id) {
        name dimension { key } parent { name } ancestors { name } descendants { name depth }
        members { name } memberCount } }"""
    result = await api.query(query, {"id": east}, as_=viewer)
    assert result["data"]["unit"] == {
        "name": "East China",
        "dimension": {"key": "region"},
        "parent": {"name": "China"},
        "ancestors": [{"name": "China"}],
        "descendants": [{"name": "Shanghai", "depth": 1}],
        "members": [{"name": "Wang Lei"}],
        "memberCount": 1,
    }


async def test_dimension_graph_lists_units_and_edges(api: Api, build: OrgBuilder) -> None:
    asia = await build.unit("Asia")
    china = await build.unit("China", parent=asia)
    viewer = await build.person()
    await build.commit()
    result = await api.query(
        '{ dimensionGraph(key: "region") { dimension { name } units { id } edges { parentId childId } } }', as_=viewer
    )
    graph = result["data"]["dimensionGraph"]
    assert graph["dimension"] == {"name": "Region"}
    assert {"parentId": asia, "childId": china} in graph["edges"]
    assert {asia, china} <= {unit["id"] for unit in graph["units"]}


async def test_unknown_ids_are_not_found(api: Api, build: OrgBuilder) -> None:
    viewer = await build.person()
    await build.commit()
    result = await api.query("{ unit(id: 987654) { name } }", as_=viewer)
    assert result["errors"][0]["extensions"] == {"code": "NOT_FOUND", "entity": "Unit", "id": "987654"}
    result = await api.query('{ dimensionGraph(key: "planet") { units { id } } }', as_=viewer)
    assert result["errors"][0]["message"] == "Dimension planet does not exist"


async def test_admin_builds_and_reshapes_the_graph(api: Api, build: OrgBuilder) -> None:
    admin = await build.person(role="admin")
    await build.commit()
    create = """mutation($name: String!, $parent: Int) {
      createUnit(dimensionKey: "region", name: $name, parentId: $parent) {
        __typename ... on Unit { id name parentId } ... on Error { message } } }"""
    asia = (await api.query(create, {"name": "Asia"}, as_=admin))["data"]["createUnit"]
    europe = (await api.query(create, {"name": "Europe"}, as_=admin))["data"]["createUnit"]
    china = (await api.query(create, {"name": "China", "parent": asia["id"]}, as_=admin))["data"]["createUnit"]
    assert china["parentId"] == asia["id"]
    move = """mutation($id: Int!, $parent: Int) { moveUnit(id: $id, parentId: $parent) {
        __typename ... on Unit { parentId ancestors { name } } ... on ValidationError { message field } } }"""
    moved = (await api.query(move, {"id": china["id"], "parent": europe["id"]}, as_=admin))["data"]["moveUnit"]
    assert moved == {"__typename": "Unit", "parentId": europe["id"], "ancestors": [{"name": "Europe"}]}
    cycle = (await api.query(move, {"id": europe["id"], "parent": china["id"]}, as_=admin))["data"]["moveUnit"]
    assert cycle == {
        "__typename": "ValidationError",
        "message": "a unit cannot move under itself or its own descendant",
        "field": "parentId",
    }


async def test_failed_mutation_writes_nothing_while_the_next_one_in_the_request_commits(
    api: Api, build: OrgBuilder, session: AsyncSession
) -> None:
    admin = await build.person(role="admin")
    await build.commit()
    people_before = await session.scalar(select(func.count()).select_from(Person))
    units_before = await session.scalar(select(func.count()).select_from(Unit))
    document = """mutation {
      bad: createPerson(input: {name: "Dup", email: "dup@x.example", homeUnitId: 999999}) {
        __typename ... on NotFound { entity id } }
      good: createUnit(dimensionKey: "function", name: "Kept") { __typename }
    }"""
    result = await api.query(document, as_=admin)
    assert result["data"] == {
        "bad": {"__typename": "NotFound", "entity": "Unit", "id": "999999"},
        "good": {"__typename": "Unit"},
    }
    assert await session.scalar(select(func.count()).select_from(Person)) == people_before
    assert await session.scalar(select(func.count()).select_from(Unit)) == (units_before or 0) + 1


async def test_person_lifecycle_through_the_api(api: Api, build: OrgBuilder) -> None:
    admin = await build.person(role="admin")
    east = await build.unit("East China")
    sales = await build.unit("Sales", dimension="function")
    await build.commit()
    created = (
        await api.query(
            """mutation($input: CreatePersonInput!) { createPerson(input: $input) {
            ... on Person { id email homeUnit { name } grants { role live } } ... on Error { message } } }""",
            {"input": {"name": "Wang Lei", "email": "Wang.Lei@Example.com", "homeUnitId": sales}},
            as_=admin,
        )
    )["data"]["createPerson"]
    assert created["email"] == "wang.lei@example.com"
    assert created["homeUnit"] == {"name": "Sales"}
    assert created["grants"] == [{"role": "member", "live": True}]
    duplicate = (
        await api.query(
            """mutation { createPerson(input: {name: "Other", email: "wang.lei@example.com"}) {
            __typename ... on ValidationError { field message } } }""",
            as_=admin,
        )
    )["data"]["createPerson"]
    assert duplicate == {
        "__typename": "ValidationError",
        "field": "email",
        "message": "email wang.lei@example.com is already used",
    }
    membership = (
        await api.query(
            f"""mutation {{ addMembership(input: {{personId: {created["id"]}, unitId: {east}}}) {{
            ... on Membership {{ kind current unit {{ name }} }} }} }}""",
            as_=admin,
        )
    )["data"]["addMembership"]
    assert membership == {"kind": "MATRIX", "current": True, "unit": {"name": "East China"}}
    wang_token = api.token_for(created["id"])
    assert (await api.post("{ me { name } }", token=wang_token))["data"]["me"]["name"] == "Wang Lei"
    deactivated = (
        await api.query(
            f'mutation {{ deactivatePerson(id: {created["id"]}, reason: "left") {{ ... on Person {{ active }} }} }}',
            as_=admin,
        )
    )["data"]["deactivatePerson"]
    assert deactivated == {"active": False}
    refused = await api.post("{ people(first: 1) { edges { cursor } } }", token=wang_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_grants_and_their_trail_through_the_api(api: Api, build: OrgBuilder) -> None:
    admin = await build.person(role="admin")
    auditor = await build.person(role="auditor")
    person = await build.person()
    await build.commit()
    granted = (
        await api.query(
            f'mutation {{ grantOrgRole(personId: {person.id}, role: "finance", reason: "bonus round") {{'
            " ... on Grant { id role live grantedBy } } }",
            as_=admin,
        )
    )["data"]["grantOrgRole"]
    assert granted["live"] is True and granted["grantedBy"] == f"person:{admin.id}"
    unknown_role = (
        await api.query(
            f'mutation {{ grantOrgRole(personId: {person.id}, role: "owner", reason: "x") {{'
            " __typename ... on Error { message } } }",
            as_=admin,
        )
    )["data"]["grantOrgRole"]
    assert unknown_role == {"__typename": "ValidationError", "message": "role 'owner' does not exist"}
    revoked = (
        await api.query(
            f'mutation {{ revokeGrant(grantId: {granted["id"]}, reason: "round closed") {{'
            " ... on Grant { live revokeReason } } }",
            as_=admin,
        )
    )["data"]["revokeGrant"]
    assert revoked == {"live": False, "revokeReason": "round closed"}
    trail = await api.query(f"{{ grants(personId: {person.id}) {{ role revokedBy revokeReason }} }}", as_=auditor)
    assert trail["data"]["grants"][0] == {
        "role": "finance",
        "revokedBy": f"person:{admin.id}",
        "revokeReason": "round closed",
    }
    hidden = await api.query(f"{{ person(id: {admin.id}) {{ grants {{ role }} }} }}", as_=person)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_first_is_bounded(api: Api, build: OrgBuilder) -> None:
    viewer = await build.person()
    await build.commit()
    result = await api.query("{ people(first: 500) { edges { cursor } } }", as_=viewer)
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    result = await api.query('{ people(first: 5, after: "garbage") { edges { cursor } } }', as_=viewer)
    assert result["errors"][0]["message"] == "malformed cursor"


async def test_unexpected_errors_are_masked_without_their_details(
    api: Api, build: OrgBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = await build.person()
    await build.commit()

    async def broken(*_: Any, **__: Any) -> None:
        msg = "connection reset by a flaky proxy at 10.0.0.7"
        raise RuntimeError(msg)

    monkeypatch.setattr(repo, "people_page", broken)
    result = await api.query("{ people(first: 5) { edges { cursor } } }", as_=viewer)
    assert result == {
        "data": None,
        "errors": [{"message": "Unexpected error.", "locations": [{"line": 1, "column": 3}], "path": ["people"]}],
    }
