"""DataLoaders, created fresh for every request so nothing is cached across users."""

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from cellorg.core.clock import utcnow
from cellorg.org import repository as org_repository
from cellorg.org.models import Dimension, Membership, Person, Unit
from cellorg.permissions.models import Grant
from cellorg.projects import okrs
from cellorg.projects import repository as project_repository
from cellorg.projects.models import KeyResult, Objective, SquadMember, SquadSlot

_Row = TypeVar("_Row", Unit, Person, Dimension)
_Item = TypeVar("_Item")


def _by_id(session: AsyncSession, model: type[_Row]) -> DataLoader[int, _Row | None]:
    async def load(ids: Sequence[int]) -> list[_Row | None]:
        found = {row.id: row for row in (await session.scalars(select(model).where(model.id.in_(ids)))).all()}
        return [found.get(row_id) for row_id in ids]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._open_session = session

    @property
    def _session(self) -> AsyncSession:
        return self._open_session()

    @cached_property
    def unit(self) -> DataLoader[int, Unit | None]:
        return _by_id(self._session, Unit)

    @cached_property
    def person(self) -> DataLoader[int, Person | None]:
        return _by_id(self._session, Person)

    @cached_property
    def dimension(self) -> DataLoader[int, Dimension | None]:
        return _by_id(self._session, Dimension)

    @cached_property
    def home_unit(self) -> DataLoader[int, Unit | None]:
        async def load(person_ids: Sequence[int]) -> list[Unit | None]:
            found = await org_repository.home_units_of(self._session, person_ids, utcnow())
            return [found.get(person_id) for person_id in person_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def memberships(self) -> DataLoader[int, list[Membership]]:
        async def load(person_ids: Sequence[int]) -> list[list[Membership]]:
            grouped = await org_repository.memberships_of(self._session, person_ids)
            return [grouped[person_id] for person_id in person_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def current_members(self) -> DataLoader[int, list[Person]]:
        async def load(unit_ids: Sequence[int]) -> list[list[Person]]:
            grouped = await org_repository.current_members(self._session, unit_ids, utcnow())
            return [grouped[unit_id] for unit_id in unit_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def member_count(self) -> DataLoader[int, int]:
        async def load(unit_ids: Sequence[int]) -> list[int]:
            query = (
                select(Membership.unit_id, func.count())
                .where(Membership.unit_id.in_(unit_ids), org_repository.current(Membership, utcnow()))
                .group_by(Membership.unit_id)
            )
            counts: dict[int, int] = dict((await self._session.execute(query)).all())
            return [counts.get(unit_id, 0) for unit_id in unit_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def slots(self) -> DataLoader[int, list[SquadSlot]]:
        async def load(project_ids: Sequence[int]) -> list[list[SquadSlot]]:
            grouped = await project_repository.slots_of(self._session, project_ids)
            return [grouped[project_id] for project_id in project_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def members(self) -> DataLoader[int, list[SquadMember]]:
        return self._members(include_former=False)

    @cached_property
    def all_members(self) -> DataLoader[int, list[SquadMember]]:
        return self._members(include_former=True)

    def _members(self, *, include_former: bool) -> DataLoader[int, list[SquadMember]]:
        async def load(project_ids: Sequence[int]) -> list[list[SquadMember]]:
            grouped = await project_repository.members_of(self._session, project_ids, include_former=include_former)
            return [grouped[project_id] for project_id in project_ids]

        return DataLoader(load_fn=load)

    @cached_property
    def objectives(self) -> DataLoader[int, list[Objective]]:
        return self._grouped(okrs.objectives_of)

    @cached_property
    def key_results(self) -> DataLoader[int, list[KeyResult]]:
        return self._grouped(okrs.key_results_of)

    @cached_property
    def aligned_objectives(self) -> DataLoader[int, list[Objective]]:
        return self._grouped(okrs.aligned_with)

    def _grouped(
        self, query: Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, list[_Item]]]]
    ) -> DataLoader[int, list[_Item]]:
        async def load(keys: Sequence[int]) -> list[list[_Item]]:
            grouped = await query(self._session, keys)
            return [grouped[key] for key in keys]

        return DataLoader(load_fn=load)

    @cached_property
    def grants_of_subject(self) -> DataLoader[str, list[Grant]]:
        async def load(subjects: Sequence[str]) -> list[list[Grant]]:
            query = select(Grant).where(Grant.subject.in_(subjects)).order_by(Grant.id.desc())
            grouped: dict[str, list[Grant]] = {subject: [] for subject in subjects}
            for grant in (await self._session.scalars(query)).all():
                grouped[grant.subject].append(grant)
            return [grouped[subject] for subject in subjects]

        return DataLoader(load_fn=load)
