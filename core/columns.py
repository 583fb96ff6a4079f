"""Query results as numpy columns, for reads of tens of thousands of rows that are then computed on as a whole.

PostgreSQL sends each column as one bytea of its values' binary form (``string_agg`` over the type's send
function), which numpy reads without a Python object per value: 70,000 rows arrive in milliseconds, not in a
hundred. Other databases return ordinary rows, converted the same way.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, ColumnElement, Float, Integer, Select, any_, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeEngine

from cellorg.core.db import UTCDateTime


class _Wire(NamedTuple):
    """How PostgreSQL sends a column type in binary: the send function, and the numpy type it decodes to."""

    send: str
    dtype: str


_INTEGER = _Wire("int4send", ">i4")
_FLOAT = _Wire("float8send", ">f8")
_TIMESTAMP = _Wire("timestamptz_send", ">i8")  # microseconds since 2000-01-01 UTC
_POSTGRES_EPOCH_MICROSECONDS = 946_684_800_000_000
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def read_columns(connection: AsyncConnection, query: Select[*tuple[Any, ...]]) -> list[NDArray[Any]]:
    """The query's columns as numpy arrays: int4 columns as int64, float8 as float64, timestamps as int64
    microseconds since 1970 (exact). A column must not hold NULL.

    PostgreSQL's executor hands each input row to every aggregate of the query in turn, so the packed columns
    stay aligned; a row count checks that no column lost a NULL (``string_agg`` skips them).
    """
    wires = [_wire(column.type) for column in query.selected_columns]
    read = _packed_columns if connection.dialect.name == "postgresql" else _row_columns
    columns = await read(connection, query, wires)
    return [
        column.astype(np.float64 if wire is _FLOAT else np.int64) for column, wire in zip(columns, wires, strict=True)
    ]


def microseconds_since_epoch(at: datetime) -> int:
    """Microseconds since 1970-01-01 UTC, exactly: the unit ``read_columns`` gives timestamps in."""
    return (at - _UNIX_EPOCH) // timedelta(microseconds=1)


def among(
    connection: AsyncConnection, column: InstrumentedAttribute[int], values: NDArray[np.int64]
) -> ColumnElement[bool]:
    """``column IN values``: one array parameter on PostgreSQL, inline values elsewhere (SQLite caps the number
    of bound parameters)."""
    listed = values.tolist()
    if connection.dialect.name == "postgresql":
        return column == any_(literal(listed, ARRAY(Integer)))
    return column.in_(bindparam("values", listed, expanding=True, literal_execute=True))


def run_starts(*columns: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Where each run of equal rows begins, in rows sorted by these columns."""
    starts: NDArray[np.bool_] = np.ones(len(columns[0]), dtype=np.bool_)
    starts[1:] = np.any([column[1:] != column[:-1] for column in columns], axis=0)
    return starts


def _wire(kind: TypeEngine[Any]) -> _Wire:
    if isinstance(kind, UTCDateTime):
        return _TIMESTAMP
    if isinstance(kind, Float):
        return _FLOAT
    if isinstance(kind, Integer) and not isinstance(kind, BigInteger):
        return _INTEGER
    raise TypeError(f"no binary column reader for {kind!r}")


async def _packed_columns(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]], wires: list[_Wire]
) -> list[NDArray[Any]]:
    rows = query.subquery()
    sends = (getattr(func, wire.send)(column) for column, wire in zip(rows.c, wires, strict=True))
    packed = select(func.count(), *(func.string_agg(send, literal(b"")) for send in sends))
    count, *values = (await connection.execute(packed)).one()
    columns = [np.frombuffer(value or b"", dtype=wire.dtype) for value, wire in zip(values, wires, strict=True)]
    if any(len(column) != count for column in columns):
        raise ValueError("a column read as an array holds NULL")
    return [
        column + _POSTGRES_EPOCH_MICROSECONDS if wire is _TIMESTAMP else column
        for column, wire in zip(columns, wires, strict=True)
    ]


async def _row_columns(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]], wires: list[_Wire]
) -> list[NDArray[Any]]:
    rows = (await connection.execute(query)).all()
    by_column: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) or [()] * len(wires)
    if any(None in column for column in by_column):
        raise ValueError("a column read as an array holds NULL")
    return [
        np.array([microseconds_since_epoch(value) for value in column] if wire is _TIMESTAMP else column)
        for column, wire in zip(by_column, wires, strict=True)
    ]
