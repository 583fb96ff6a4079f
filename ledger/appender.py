"""Group commit: the appends of concurrent requests share one ledger transaction.

Every append holds the ledger lock from its head read to its commit, so one entry per transaction caps a
process at about a thousand entries a second here, whatever the number of writers. The appender queues each
caller's unit (one entry, or an import's batch: all or none) and writes what has queued up while the previous
group was being written, in one transaction: one validation read, one lock, one head read, one insert and one
commit for the whole group. Alone, an append is written at once; under load, groups grow with the load.

A unit that breaks a rule gets its typed error and the rest of its group is written; if the transaction
itself fails (the database is down, say), every unit of the group gets that error and nothing is written.
A unit whose caller stops waiting may still be written: it is on the ledger, like any append that reached
its commit.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cellorg.core.db import commit
from cellorg.core.errors import DomainError
from cellorg.ledger.models import LedgerEntry
from cellorg.ledger.service import LedgerKeys, NewEntry, record_units

log = logging.getLogger(__name__)

MAX_GROUP_ENTRIES = 1_000  # a group's insert and validation read stay a few megabytes


@dataclass
class _Unit:
    entries: Sequence[NewEntry]
    written: "asyncio.Future[list[LedgerEntry]]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _unheard(written: "asyncio.Future[list[LedgerEntry]]") -> None:
    """Retrieve an outcome nobody waits for, so that asyncio does not log its error as lost."""
    if not written.cancelled():
        written.exception()


class LedgerAppender:
    """One per process: appends each caller's entries, batched with those of concurrent callers."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], keys: LedgerKeys, max_group: int = MAX_GROUP_ENTRIES
    ) -> None:
        self.session_factory = session_factory
        self.keys = keys
        self.max_group = max_group
        self._queue: list[_Unit] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        """The entries, appended and committed (all or none); raises the unit's DomainError otherwise."""
        unit = _Unit(entries)
        self._queue.append(unit)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queue())
        try:
            return await asyncio.shield(unit.written)
        except asyncio.CancelledError:  # the unit is written all the same; its outcome now reaches nobody
            unit.written.add_done_callback(_unheard)
            raise

    async def close(self) -> None:
        """Wait for the units already queued to be written."""
        if self._writer is not None:
            await self._writer

    async def _write_queue(self) -> None:
        while self._queue:
            group = self._next_group()
            try:
                outcomes = await self._write(group)
            except asyncio.CancelledError:  # shutting down: nobody is left waiting for an answer
                for unit in (*group, *self._queue):
                    unit.written.cancel()
                raise
            except Exception as error:  # the whole transaction failed: each caller sees why
                log.warning("a group of %d ledger appends failed: %s", len(group), error)
                for unit in group:
                    unit.written.set_exception(error)
                continue
            for unit, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, DomainError):
                    unit.written.set_exception(outcome)
                else:
                    unit.written.set_result(outcome)

    def _next_group(self) -> list[_Unit]:
        """The oldest units, up to ``max_group`` entries (at least one unit, however large)."""
        size = count = 0
        for unit in self._queue:
            if count and size + len(unit.entries) > self.max_group:
                break
            size += len(unit.entries)
            count += 1
        group, self._queue = self._queue[:count], self._queue[count:]
        return group

    async def _write(self, group: list[_Unit]) -> list[list[LedgerEntry] | DomainError]:
        async with self.session_factory() as session:
            outcomes = await record_units(session, self.keys, [unit.entries for unit in group])
            await commit(session)
        return outcomes
