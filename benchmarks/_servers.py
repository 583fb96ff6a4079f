"""The servers the people benchmark compares, one uvicorn worker each.

``python benchmarks/_servers.py full|noauthz|stock PORT`` (the database URL comes from the environment).
"""

import sys

import strawberry
import uvicorn

from cellorg.core.settings import get_settings
from cellorg.graphql.app import create_app
from cellorg.permissions.enforcer import PolicyEnforcer


class AllowAll(PolicyEnforcer):
    """Authorization off: every check passes without consulting Casbin."""

    def enforce(self, subject: str, scope: str, obj: str, action: str) -> bool:
        return True


@strawberry.type
class StockUnit:
    name: str


@strawberry.type
class StockPerson:
    id: int
    name: str
    email: str
    home_unit: StockUnit | None


@strawberry.type
class StockEdge:
    node: StockPerson


@strawberry.type
class StockConnection:
    edges: list[StockEdge]


PEOPLE = [
    StockPerson(id=i, name=f"Person {i:02d}", email=f"p{i}@bench.example", home_unit=StockUnit(name="Bench Team"))
    for i in range(50)
]


@strawberry.type
class StockQuery:
    @strawberry.field
    def people(self, first: int = 50) -> StockConnection:
        return StockConnection(edges=[StockEdge(node=p) for p in PEOPLE[:first]])


def main() -> None:
    variant, port = sys.argv[1], int(sys.argv[2])
    if variant == "stock":
        from strawberry.asgi import GraphQL

        app = GraphQL(strawberry.Schema(query=StockQuery))
    else:
        app = create_app(get_settings(), policy=AllowAll() if variant == "noauthz" else None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
