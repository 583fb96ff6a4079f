"""The one source of "now": timezone-aware UTC, movable by tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    """System time unless frozen; tests freeze and advance it to hit exact seconds."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC)

    def freeze(self, at: datetime) -> None:
        if at.tzinfo is None:
            msg = "the clock only holds timezone-aware datetimes"
            raise ValueError(msg)
        self._frozen = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self.freeze(self.now() + delta)

    def unfreeze(self) -> None:
        self._frozen = None

    @contextmanager
    def frozen(self, at: datetime) -> Iterator["Clock"]:
        previous = self._frozen
        self.freeze(at)
        try:
            yield self
        finally:
            self._frozen = previous


clock = Clock()


def utcnow() -> datetime:
    return clock.now()
