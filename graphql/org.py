"""The org graph's GraphQL face: people, units, dimensions and memberships."""

import base64
import binascii
import json
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import NotFoundError, ValidationFailed
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.graphql.selection import selects
from cellorg.org import models, service
from cellorg.org import repository as repo
from cellorg.permissions.catalogue import GRANTS_READ, ORG_READ, ORG_WRITE

if TYPE_CHECKING:
    from cellorg.graphql.permissions import Grant

MAX_PAGE = 200


@strawberry.enum
class MembershipKind(Enum):
    HOME = "home"
    MATRIX = "matrix"


@strawberry.type
class Dimension:
    id: int
    key: str
    name: str
    builtin: bool

    @classmethod
    def of(cls, row: models.Dimension) -> "Dimension":
        return cls(id=row.id, key=row.key, name=row.name, builtin=row.builtin)


@strawberry.type
class Unit:
    id: int
    name: str
    parent_id: int | None
    dimension_id: int
    path: strawberry.Private[str]

    @classmethod
    def of(cls, row: models.Unit) -> "Unit":
        return cls(id=row.id, name=row.name, parent_id=row.parent_id, dimension_id=row.dimension_id, path=row.path)

    @strawberry.field
    async def dimension(self, info: Info) -> Dimension:
        return Dimension.of(await info.context.loaders.dimension.load(self.dimension_id))

    @strawberry.field
    async def parent(self, info: Info) -> "Unit | None":
        if self.parent_id is None:
            return None
        return Unit.of(await info.context.loaders.unit.load(self.parent_id))

    @strawberry.field(description="From the root of the dimension down to the parent.")
    async def ancestors(self, info: Info) -> list["Unit"]:
        units = await info.context.loaders.unit.load_many(models.ids_on_path(self.path))
        return [Unit.of(unit) for unit in units if unit is not None]

    @strawberry.field(description="Every unit below this one, in one query.")
    async def descendants(self, info: Info) -> list["UnitNode"]:
        return [
            UnitNode(id=s.id, name=s.name, parent_id=s.parent_id, depth=s.depth)
            for s in await repo.unit_subtree(info.context.db, self.id, self.path)
        ]

    @strawberry.field(description="People with a current home or matrix membership here.")
    async def members(self, info: Info) -> list["Person"]:
        return [Person.of(person) for person in await info.context.loaders.current_members.load(self.id)]

    @strawberry.field
    async def member_count(self, info: Info) -> int:
        count: int = await info.context.loaders.member_count.load(self.id)
        return count


@strawberry.type(description="A unit inside a subtree or graph, with its depth below the root asked for.")
class UnitNode:
    id: int
    name: str
    parent_id: int | None
    depth: int


@strawberry.type
class UnitEdge:
    parent_id: int
    child_id: int


@strawberry.type(description="One dimension as a graph: its units and the parent links between them.")
class DimensionGraph:
    dimension: Dimension
    units: list[Unit]
    edges: list[UnitEdge]


@strawberry.type
class Membership:
    id: int
    person_id: int
    unit_id: int
    kind: MembershipKind
    since: datetime
    until: datetime | None

    @classmethod
    def of(cls, row: models.Membership) -> "Membership":
        return cls(
            id=row.id,
            person_id=row.person_id,
            unit_id=row.unit_id,
            kind=MembershipKind(row.kind),
            since=row.since,
            until=row.until,
        )

    @strawberry.field
    async def unit(self, info: Info) -> Unit:
        return Unit.of(await info.context.loaders.unit.load(self.unit_id))

    @strawberry.field
    def current(self) -> bool:
        return self.since <= utcnow() and (self.until is None or utcnow() < self.until)


class _NotLoaded:
    """Marks a relation the list resolver did not load; the field then goes through its DataLoader."""


NOT_LOADED = _NotLoaded()


@strawberry.type
class Person:
    id: int
    name: str
    email: str
    eth_address: str | None
    active: bool
    created_at: datetime
    loaded_home_unit: strawberry.Private[models.Unit | _NotLoaded | None] = NOT_LOADED

    @classmethod
    def of(cls, row: models.Person, home_unit: models.Unit | _NotLoaded | None = NOT_LOADED) -> "Person":
        return cls(
            id=row.id,
            name=row.name,
            email=row.email,
            eth_address=row.eth_address,
            active=row.active,
            created_at=row.created_at,
            loaded_home_unit=home_unit,
        )

    @strawberry.field(graphql_type=Unit | None)
    def home_unit(self, info: Info) -> Any:
        # Synchronous when the list already loaded it: no awaitable per row on the hot path.
        if isinstance(self.loaded_home_unit, _NotLoaded):
            return self._home_unit_from_loader(info)
        return None if self.loaded_home_unit is None else Unit.of(self.loaded_home_unit)

    async def _home_unit_from_loader(self, info: Info) -> Unit | None:
        unit = await info.context.loaders.home_unit.load(self.id)
        return None if unit is None else Unit.of(unit)

    @strawberry.field(description="Home and matrix memberships, past and current.")
    async def memberships(self, info: Info) -> list[Membership]:
        return [Membership.of(m) for m in await info.context.loaders.memberships.load(self.id)]

    @strawberry.field(description="Role grants, including ended ones; visible to the person and to grant readers.")
    async def grants(self, info: Info) -> list[Annotated["Grant", strawberry.lazy("cellorg.graphql.permissions")]]:
        from cellorg.graphql.permissions import Grant

        if info.context.viewer.person_id != self.id:
            info.context.check(GRANTS_READ)
        return [Grant.of(g) for g in await info.context.loaders.grants_of_subject.load(f"person:{self.id}")]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class PersonEdge:
    node: Person
    row: strawberry.Private[models.Person]

    @strawberry.field(description="Pass as `after` to continue after this person.")
    def cursor(self) -> str:
        return encode_cursor(self.row)


@strawberry.type
class PersonConnection:
    edges: list[PersonEdge]
    page_info: PageInfo
    people_filter: strawberry.Private[repo.PeopleFilter]
    unit: strawberry.Private[models.Unit | None]

    @strawberry.field(description="All people matching the filter (one extra query, only when asked).")
    async def total_count(self, info: Info) -> int:
        return await repo.count_people(info.context.db, self.people_filter, unit=self.unit, at=utcnow())


def encode_cursor(person: models.Person) -> str:
    return base64.urlsafe_b64encode(json.dumps([person.name, person.id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        name, person_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValidationFailed("malformed cursor", field="after") from error
    if not isinstance(name, str) or not isinstance(person_id, int):
        raise ValidationFailed("malformed cursor", field="after")
    return name, person_id


async def _dimension_by_key(info: Info, key: str) -> models.Dimension:
    dimension: models.Dimension | None = await info.context.db.scalar(
        select(models.Dimension).where(models.Dimension.key == key)
    )
    if dimension is None:
        raise NotFoundError("Dimension", key)
    return dimension


@strawberry.type
class OrgQuery:
    @query_field(description="The caller.")
    async def me(self, info: Info) -> Person:
        person = await info.context.loaders.person.load(info.context.viewer.person_id)
        if person is None:
            raise NotFoundError("Person", info.context.viewer.person_id)
        return Person.of(person)

    @query_field()
    async def person(self, info: Info, id: int) -> Person:  # noqa: A002  (GraphQL's name for it)
        info.context.require(ORG_READ)
        return Person.of(await get_or_fail(info.context.db, models.Person, id))

    @query_field(description="People ordered by name, filtered by unit (with its subtree), dimension and name.")
    async def people(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        unit_id: int | None = None,
        include_descendants: bool = False,
        dimension_key: str | None = None,
        name: str | None = None,
        include_inactive: bool = False,
    ) -> PersonConnection:
        info.context.require(ORG_READ)
        if not 1 <= first <= MAX_PAGE:
            raise ValidationFailed(f"first must be between 1 and {MAX_PAGE}", field="first")
        session = info.context.db
        unit = await get_or_fail(session, models.Unit, unit_id) if unit_id is not None else None
        dimension_id = (await _dimension_by_key(info, dimension_key)).id if dimension_key is not None else None
        people_filter = repo.PeopleFilter(unit_id, include_descendants, dimension_id, name, include_inactive)
        after_key = decode_cursor(after) if after is not None else None
        rows = await repo.people_page(
            session,
            people_filter,
            unit=unit,
            at=utcnow(),
            after=after_key,
            limit=first,
            with_home_unit=selects(info, ("edges", "node", "homeUnit")),
        )
        page = rows[:first]
        edges = [PersonEdge(node=Person.of(row, home_unit), row=row) for row, home_unit in page]
        return PersonConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=edges[-1].cursor() if edges else None),
            people_filter=people_filter,
            unit=unit,
        )

    @query_field()
    async def unit(self, info: Info, id: int) -> Unit:  # noqa: A002
        info.context.require(ORG_READ)
        return Unit.of(await get_or_fail(info.context.db, models.Unit, id))

    @query_field()
    async def dimensions(self, info: Info) -> list[Dimension]:
        info.context.require(ORG_READ)
        rows = (await info.context.db.scalars(select(models.Dimension).order_by(models.Dimension.id))).all()
        return [Dimension.of(row) for row in rows]

    @query_field(description="A dimension's units and their parent links.")
    async def dimension_graph(self, info: Info, key: str) -> DimensionGraph:
        info.context.require(ORG_READ)
        dimension = await _dimension_by_key(info, key)
        units = await repo.units_of_dimension(info.context.db, dimension.id)
        return DimensionGraph(
            dimension=Dimension.of(dimension),
            units=[Unit.of(unit) for unit in units],
            edges=[UnitEdge(parent_id=u.parent_id, child_id=u.id) for u in units if u.parent_id is not None],
        )


@strawberry.input
class CreatePersonInput:
    name: str
    email: str
    home_unit_id: int | None = None
    eth_address: str | None = None


@strawberry.input
class UpdatePersonInput:
    name: str | None = None
    email: str | None = None
    eth_address: str | None = None
    home_unit_id: int | None = None


@strawberry.input
class AddMembershipInput:
    person_id: int
    unit_id: int
    kind: MembershipKind = MembershipKind.MATRIX
    since: datetime | None = None
    until: datetime | None = None


PersonResult = Annotated[Person | ValidationError | NotFound | PermissionDenied, strawberry.union("PersonResult")]
UnitResult = Annotated[Unit | ValidationError | NotFound | PermissionDenied, strawberry.union("UnitResult")]
DimensionResult = Annotated[
    Dimension | ValidationError | NotFound | PermissionDenied, strawberry.union("DimensionResult")
]
MembershipResult = Annotated[
    Membership | ValidationError | NotFound | PermissionDenied, strawberry.union("MembershipResult")
]


def _actor(info: Info) -> str:
    return str(info.context.viewer.subject)


@strawberry.type
class OrgMutation:
    @mutation_field(description="Add a custom dimension next to region, function, product line and customer.")
    async def create_dimension(self, info: Info, key: str, name: str) -> DimensionResult:
        info.context.require(ORG_WRITE)
        return Dimension.of(await service.create_dimension(info.context.db, key=key, name=name))

    @mutation_field()
    async def create_unit(self, info: Info, dimension_key: str, name: str, parent_id: int | None = None) -> UnitResult:
        info.context.require(ORG_WRITE)
        dimension = await _dimension_by_key(info, dimension_key)
        unit = await service.create_unit(info.context.db, dimension_id=dimension.id, name=name, parent_id=parent_id)
        return Unit.of(unit)

    @mutation_field()
    async def rename_unit(self, info: Info, id: int, name: str) -> UnitResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        return Unit.of(await service.rename_unit(info.context.db, id, name))

    @mutation_field(description="Move a unit and its subtree under another parent of the same dimension.")
    async def move_unit(self, info: Info, id: int, parent_id: int | None) -> UnitResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        return Unit.of(await service.move_unit(info.context.db, id, parent_id))

    @mutation_field(description="A new person, with a home unit and the org member role.")
    async def create_person(self, info: Info, input: CreatePersonInput) -> PersonResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        person = await service.create_person(
            info.context.db,
            info.context.services.policy,
            name=input.name,
            email=input.email,
            home_unit_id=input.home_unit_id,
            eth_address=input.eth_address,
            created_by=_actor(info),
        )
        return Person.of(person)

    @mutation_field()
    async def update_person(self, info: Info, id: int, input: UpdatePersonInput) -> PersonResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        person = await service.update_person(
            info.context.db,
            id,
            name=input.name,
            email=input.email,
            eth_address=input.eth_address,
            home_unit_id=input.home_unit_id,
        )
        return Person.of(person)

    @mutation_field(description="End the person's memberships and grants now; the history stays.")
    async def deactivate_person(self, info: Info, id: int, reason: str) -> PersonResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        person = await service.deactivate_person(
            info.context.db, info.context.services.policy, id, deactivated_by=_actor(info), reason=reason
        )
        return Person.of(person)

    @mutation_field()
    async def add_membership(self, info: Info, input: AddMembershipInput) -> MembershipResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        membership = await service.add_membership(
            info.context.db,
            person_id=input.person_id,
            unit_id=input.unit_id,
            kind=models.MembershipKind(input.kind.value),
            since=input.since,
            until=input.until,
        )
        return Membership.of(membership)

    @mutation_field()
    async def end_membership(self, info: Info, id: int, at: datetime | None = None) -> MembershipResult:  # noqa: A002
        info.context.require(ORG_WRITE)
        return Membership.of(await service.end_membership(info.context.db, id, at))
