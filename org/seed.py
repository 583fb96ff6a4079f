"""A realistic large organisation for load tests and benchmarks, written with bulk inserts."""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.org.models import Dimension, Membership, MembershipKind, Person, Unit
from cellorg.permissions.catalogue import MEMBER_ROLE, ORG_SCOPE, subject_of_person
from cellorg.permissions.models import Grant

BATCH = 5_000
FIRST_NAMES = (
    "Wei Fang Min Jing Lei Yang Jun Hui Xin Yu Tao Ping Hong Qiang Li Na Hao Chen Bo Lin Mei Ying Kai Rui "
    "Anna Lukas Sofia Mateo Amara Noah Priya Omar Elena Kenji Aisha Diego Ines Tomas Leila Marco Yuki"
).split()
LAST_NAMES = (
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Schmidt Rossi "
    "Garcia Kim Tanaka Okafor Novak Silva Haddad Larsen Dubois Kowalski Patel Nguyen"
).split()
LEVEL_WORDS = {
    "region": ("Area", "Country", "Province", "City", "Office", "Site"),
    "function": ("Division", "Department", "Group", "Team", "Cell", "Pod"),
    "product_line": ("Portfolio", "Product line", "Product", "Module", "Component", "Variant"),
    "customer": ("Segment", "Account group", "Account", "Site", "Plant", "Line"),
}
DIMENSION_SHARES = {"region": 0.3, "function": 0.4, "product_line": 0.15, "customer": 0.15}
BRANCHING = 8


@dataclass(frozen=True)
class SeedSummary:
    units: int
    people: int
    memberships: int


Progress = Callable[[int], None]


async def seed_large_org(
    session: AsyncSession, *, people: int, units: int, seed: int = 7, progress: Progress = lambda _: None
) -> SeedSummary:
    """Add ``units`` units across the built-in dimensions and ``people`` people with memberships."""
    rng = random.Random(seed)
    dimensions = {d.key: d.id for d in (await session.scalars(select(Dimension))).all()}
    counts = {key: max(1, int(units * share)) for key, share in DIMENSION_SHARES.items()}
    counts["function"] = max(1, counts["function"] + units - sum(counts.values()))
    leaves = {key: await _seed_tree(session, dimensions[key], key, count, progress) for key, count in counts.items()}
    memberships = await _seed_people(session, rng, people, leaves, progress)
    return SeedSummary(units=units, people=people, memberships=memberships)


async def _seed_tree(session: AsyncSession, dimension_id: int, key: str, count: int, progress: Progress) -> list[int]:
    """Breadth-first, ``BRANCHING`` children per unit, until ``count`` units exist; returns the leaves."""
    words = LEVEL_WORDS[key]
    level: list[tuple[int | None, str]] = [(None, "/")]
    created = 0
    depth = 0
    leaves: list[int] = []
    while created < count:
        rows: list[dict[str, Any]] = []
        for parent_id, path in level:
            for index in range(BRANCHING if parent_id is not None else min(BRANCHING, count)):
                if created + len(rows) >= count:
                    break
                rows.append(
                    _unit_row(dimension_id, parent_id, path, f"{words[min(depth, len(words) - 1)]} {index + 1}")
                )
        if not rows:
            break
        ids = await _insert_returning_ids(session, Unit, rows)
        created += len(ids)
        progress(len(ids))
        level = [(uid, f"{row['path']}{uid}/") for uid, row in zip(ids, rows, strict=True)]
        leaves = ids
        depth += 1
    return leaves


def _unit_row(dimension_id: int, parent_id: int | None, path: str, name: str) -> dict[str, Any]:
    return {"dimension_id": dimension_id, "parent_id": parent_id, "path": path, "name": name, "created_at": utcnow()}


async def _seed_people(
    session: AsyncSession, rng: random.Random, count: int, leaves: dict[str, list[int]], progress: Progress
) -> int:
    now = utcnow()
    start = (await session.scalar(select(Person.id).order_by(Person.id.desc()).limit(1))) or 0
    memberships = 0
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        rows = []
        for index in range(offset, offset + size):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}.{start + index + 1}@seed.cellorg.example".lower()
            rows.append({"name": f"{first} {last}", "email": email, "active": True, "created_at": now})
        ids = await _insert_returning_ids(session, Person, rows)
        member_rows = []
        for person_id in ids:
            member_rows.append(_membership(person_id, rng.choice(leaves["function"]), MembershipKind.HOME, now))
            member_rows.append(_membership(person_id, rng.choice(leaves["region"]), MembershipKind.MATRIX, now))
            if rng.random() < 0.3:
                member_rows.append(
                    _membership(person_id, rng.choice(leaves["product_line"]), MembershipKind.MATRIX, now)
                )
        await session.execute(insert(Membership), member_rows)
        await session.execute(insert(Grant), [_member_grant(person_id, now) for person_id in ids])
        memberships += len(member_rows)
        progress(len(ids))
    return memberships


def _membership(person_id: int, unit_id: int, kind: MembershipKind, now: Any) -> dict[str, Any]:
    return {"person_id": person_id, "unit_id": unit_id, "kind": kind, "since": now, "until": None}


def _member_grant(person_id: int, now: Any) -> dict[str, Any]:
    return {
        "subject": subject_of_person(person_id),
        "role": MEMBER_ROLE,
        "scope": ORG_SCOPE,
        "valid_from": now,
        "valid_until": None,
        "granted_by": None,
        "reason": "seeded person",
        "created_at": now,
    }


async def _insert_returning_ids(
    session: AsyncSession, model: type[Unit] | type[Person], rows: Sequence[dict[str, Any]]
) -> list[int]:
    ids: list[int] = []
    for offset in range(0, len(rows), BATCH):
        chunk = rows[offset : offset + BATCH]
        result = await session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), chunk)
        ids.extend(result.scalars().all())
    return ids
