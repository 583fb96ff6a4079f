"""Objectives and key results of a squad, and the horizontal links between squads' objectives."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.core.db import get_or_fail
from cellorg.core.errors import ValidationFailed
from cellorg.projects.models import KeyResult, Objective, ObjectiveAlignment, Project

MAX_TITLE = 300


def _title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(f"title must be 1 to {MAX_TITLE} characters", field="title")
    return title


def _amount(value: str, field: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise ValidationFailed(f"{value!r} is not a number", field=field) from error
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e14"):
        raise ValidationFailed(f"{field} must be a non-negative number below 10^14", field=field)
    return amount


async def _open_project(session: AsyncSession, project_id: int) -> Project:
    project = await get_or_fail(session, Project, project_id)
    if not project.is_open:
        raise ValidationFailed(f"the project is {project.status}: its OKRs cannot change", field="projectId")
    return project


async def add_objective(session: AsyncSession, project_id: int, *, title: str, description: str) -> Objective:
    await _open_project(session, project_id)
    objective = Objective(
        project_id=project_id, title=_title(title), description=description.strip(), created_at=utcnow()
    )
    session.add(objective)
    await session.flush()
    return objective


async def add_key_result(
    session: AsyncSession, objective_id: int, *, title: str, target: str, unit: str, due_at: datetime | None
) -> KeyResult:
    objective = await get_or_fail(session, Objective, objective_id)
    await _open_project(session, objective.project_id)
    amount = _amount(target, "target")
    if amount == 0:
        raise ValidationFailed("target must be above zero", field="target")
    key_result = KeyResult(
        objective_id=objective.id,
        title=_title(title),
        target=amount,
        current=Decimal(0),
        unit=unit.strip()[:32],
        due_at=due_at,
        updated_at=utcnow(),
    )
    session.add(key_result)
    await session.flush()
    return key_result


async def record_progress(session: AsyncSession, key_result_id: int, current: str) -> KeyResult:
    key_result = await get_or_fail(session, KeyResult, key_result_id)
    objective = await get_or_fail(session, Objective, key_result.objective_id)
    await _open_project(session, objective.project_id)
    key_result.current = _amount(current, "current")
    key_result.updated_at = utcnow()
    await session.flush()
    return key_result


async def align(session: AsyncSession, objective_id: int, aligned_objective_id: int) -> ObjectiveAlignment:
    objective = await get_or_fail(session, Objective, objective_id)
    other = await get_or_fail(session, Objective, aligned_objective_id)
    await _open_project(session, objective.project_id)
    if objective.project_id == other.project_id:
        raise ValidationFailed("alignment links objectives of two different projects", field="alignedObjectiveId")
    if await _aligned(session, objective.id, other.id):
        raise ValidationFailed("these objectives are already aligned", field="alignedObjectiveId")
    alignment = ObjectiveAlignment(objective_id=objective.id, aligned_objective_id=other.id, created_at=utcnow())
    session.add(alignment)
    await session.flush()
    return alignment


async def _aligned(session: AsyncSession, first: int, second: int) -> bool:
    query = select(ObjectiveAlignment.id).where(
        or_(
            (ObjectiveAlignment.objective_id == first) & (ObjectiveAlignment.aligned_objective_id == second),
            (ObjectiveAlignment.objective_id == second) & (ObjectiveAlignment.aligned_objective_id == first),
        )
    )
    return await session.scalar(query.limit(1)) is not None


async def objectives_of(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, list[Objective]]:
    grouped: dict[int, list[Objective]] = {project_id: [] for project_id in project_ids}
    query = select(Objective).where(Objective.project_id.in_(project_ids)).order_by(Objective.id)
    for objective in (await session.scalars(query)).all():
        grouped[objective.project_id].append(objective)
    return grouped


async def key_results_of(session: AsyncSession, objective_ids: Sequence[int]) -> dict[int, list[KeyResult]]:
    grouped: dict[int, list[KeyResult]] = {objective_id: [] for objective_id in objective_ids}
    query = select(KeyResult).where(KeyResult.objective_id.in_(objective_ids)).order_by(KeyResult.id)
    for key_result in (await session.scalars(query)).all():
        grouped[key_result.objective_id].append(key_result)
    return grouped


async def aligned_with(session: AsyncSession, objective_ids: Sequence[int]) -> dict[int, list[Objective]]:
    """For each objective, the objectives linked to it, whichever side made the link."""
    grouped: dict[int, list[Objective]] = {objective_id: [] for objective_id in objective_ids}
    links = (
        await session.execute(
            select(ObjectiveAlignment.objective_id, ObjectiveAlignment.aligned_objective_id).where(
                or_(
                    ObjectiveAlignment.objective_id.in_(objective_ids),
                    ObjectiveAlignment.aligned_objective_id.in_(objective_ids),
                )
            )
        )
    ).all()
    other_ids = {a for pair in links for a in pair}
    others = {o.id: o for o in (await session.scalars(select(Objective).where(Objective.id.in_(other_ids)))).all()}
    for first, second in links:
        if first in grouped:
            grouped[first].append(others[second])
        if second in grouped:
            grouped[second].append(others[first])
    return grouped
