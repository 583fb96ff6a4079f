"""Query results as numpy columns: packed by PostgreSQL, ordinary rows on SQLite, the same values either way."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import Float, Integer, Subquery, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from cellorg.core.columns import among, microseconds_since_epoch, read_columns, run_starts
from cellorg.core.db import UTCDateTime

MOMENTS = [
    datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),  # before both epochs: negative microseconds
    datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8))),  # not UTC, with microseconds
    datetime(2000, 1, 1, tzinfo=UTC),  # PostgreSQL's epoch: 0 on the wire
]


def table(columns: dict[str, TypeEngine[object]], rows: list[tuple[object, ...]]) -> Subquery:
    """Rows as a subquery both databases take (SQLite cannot name the columns of a VALUES list)."""
    named = list(columns.items())
    selects = [select(*(literal(v, t).label(n) for v, (n, t) in zip(row, named, strict=True))) for row in rows]
    return union_all(*selects).subquery("rows")


async def test_integers_floats_and_timestamps_come_back_exactly(connection: AsyncConnection) -> None:
    rows = table(
        {"id": Integer(), "weight": Float(), "at": UTCDateTime()},
        [(-7, 0.1, MOMENTS[0]), (2**31 - 1, 1e-300, MOMENTS[1]), (0, -2.5, MOMENTS[2])],
    )
    ids, weights, moments = await read_columns(connection, select(rows.c.id, rows.c.weight, rows.c.at))
    order = np.argsort(ids)  # compared by id: nothing orders the rows of a union
    assert ids[order].tolist() == [-7, 0, 2**31 - 1]
    assert weights[order].tolist() == [0.1, -2.5, 1e-300]
    assert moments[order].tolist() == [microseconds_since_epoch(MOMENTS[i]) for i in (0, 2, 1)]
    assert (ids.dtype, weights.dtype, moments.dtype) == (np.int64, np.float64, np.int64)


async def test_a_null_is_refused_even_when_every_column_lost_as_many(connection: AsyncConnection) -> None:
    """Each column has one NULL: packed, both would come back two values long and look aligned."""
    rows = table({"a": Integer(), "b": Integer()}, [(1, None), (None, 20), (3, 30)])
    with pytest.raises(ValueError, match="holds NULL"):
        await read_columns(connection, select(rows.c.a, rows.c.b))


async def test_no_rows_give_empty_columns(connection: AsyncConnection) -> None:
    rows = table({"a": Integer()}, [(1,)])
    (empty,) = await read_columns(connection, select(rows.c.a).where(rows.c.a > 1))
    assert (empty.tolist(), empty.dtype) == ([], np.int64)


@pytest.mark.parametrize("wanted", [[], [2], [1, 3, 99]])
async def test_among_keeps_the_rows_whose_value_is_listed(connection: AsyncConnection, wanted: list[int]) -> None:
    rows = table({"a": Integer()}, [(1,), (2,), (3,)])
    query = select(rows.c.a).where(among(connection, rows.c.a, np.array(wanted, dtype=np.int64)))
    assert sorted((await connection.execute(query)).scalars().all()) == sorted(set(wanted) & {1, 2, 3})


def test_run_starts_marks_where_each_run_of_equal_rows_begins() -> None:
    first = np.array([1, 1, 1, 2, 2, 3])
    second = np.array([5, 5, 6, 6, 6, 6])
    assert run_starts(first).tolist() == [True, False, False, True, False, True]
    assert run_starts(first, second).tolist() == [True, False, True, True, False, True]
