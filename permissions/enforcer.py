"""The Casbin enforcer, derived from the grants table.

Casbin holds the shared ``p`` lines (role -> permission) and one role link per (subject, role,
scope). The links go straight into Casbin's domain role manager: its management API checks each
new ``g`` line for duplicates with a linear scan, which made loading 100,000 grants take minutes
(and every grant change cost milliseconds); our links are unique by construction.

Validity is not Casbin's business: the ``grant_valid`` matcher function checks each role link
against windows kept here, with ``core``'s clock, so an expired grant is denied the second it ends,
before any sweep has run. Anything unreadable denies.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import casbin
from casbin.model import Model

from cellorg.core.clock import utcnow
from cellorg.permissions.catalogue import ROLES, casbin_role, roles_of_kind, scope_kind

log = logging.getLogger(__name__)

MODEL_TEXT = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub, r.dom) && grant_valid(r.sub, p.sub, r.dom)
"""


@dataclass(frozen=True, slots=True)
class GrantWindow:
    """What the enforcer needs of a grant row: who, which role where, and when it works."""

    grant_id: int
    subject: str
    role: str
    scope: str
    valid_from: datetime
    valid_until: datetime | None

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """Grant windows to add or replace, and windows to drop: what one commit did to the policy."""

    upserted: tuple[GrantWindow, ...] = ()
    discarded: tuple[GrantWindow, ...] = ()


Publisher = Callable[[PolicyChange], Awaitable[None]]
LinkKey = tuple[str, str, str]


def _readable(window: GrantWindow) -> bool:
    """Timezone-aware bounds, the end after the start."""
    start, end = window.valid_from, window.valid_until
    if not isinstance(start, datetime) or start.tzinfo is None:
        return False
    return end is None or (isinstance(end, datetime) and end.tzinfo is not None and end > start)


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
MAX_MEMOIZED_DECISIONS = 500_000


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision that holds while the clock stays within [since, until)."""

    allowed: bool
    since: datetime
    until: datetime

    def holds_at(self, at: datetime) -> bool:
        return self.since <= at < self.until


class PolicyEnforcer:
    def __init__(self) -> None:
        # Casbin logs every decision (denials as warnings): noise on a hot path, and a denial is expected.
        logging.getLogger("casbin").setLevel(logging.ERROR)
        model = Model()
        model.load_model_from_text(MODEL_TEXT)
        self._casbin = casbin.Enforcer(model)
        self._casbin.add_function("grant_valid", self._grant_valid)
        self._windows: dict[LinkKey, dict[int, GrantWindow]] = {}
        self._decisions: dict[tuple[str, str, str, str], Decision] = {}
        self._casbin.add_policies([[role.casbin_name, p.obj, p.action] for role in ROLES for p in role.permissions])
        self._links = self._casbin.get_role_manager()
        # Set by the policy watcher: tells the other processes what this one changed.
        self.publisher: Publisher | None = None

    def enforce(self, subject: str, scope: str, obj: str, action: str) -> bool:
        """Casbin's decision, memoized for as long as no window of this subject in this scope opens or closes."""
        now = utcnow()
        key = (subject, scope, obj, action)
        cached = self._decisions.get(key)
        if cached is not None and cached.holds_at(now):
            return cached.allowed
        allowed = bool(self._casbin.enforce(subject, scope, obj, action))
        span = self._stable_span(subject, scope, now)
        if span is not None:
            if len(self._decisions) >= MAX_MEMOIZED_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = Decision(allowed, *span)
        return allowed

    def load(self, windows: Iterable[GrantWindow]) -> None:
        """Replace every role link with ``windows`` (the grants that are live or still to come)."""
        self._decisions.clear()
        self._links.clear()
        self._windows = {}
        for window in windows:
            key = self._loadable_key(window)
            if key is None:
                continue
            if key not in self._windows:
                self._windows[key] = {}
                self._links.add_link(*key)
            self._windows[key][window.grant_id] = window

    async def apply(self, change: PolicyChange) -> None:
        """Apply a committed change here, then publish it to the other processes."""
        self.apply_locally(change)
        if self.publisher is not None:
            await self.publisher(change)

    def apply_locally(self, change: PolicyChange) -> None:
        for window in change.discarded:
            self.discard(window)
        for window in change.upserted:
            self.upsert(window)

    def upsert(self, window: GrantWindow) -> None:
        self._decisions.clear()
        key = self._loadable_key(window)
        if key is None:
            self.discard(window)  # whatever this grant was before, it no longer works
            return
        if key not in self._windows:
            self._windows[key] = {}
            self._links.add_link(*key)
        self._windows[key][window.grant_id] = window

    def discard(self, window: GrantWindow) -> None:
        self._decisions.clear()
        key = self._key(window)
        if key is None:
            return
        windows = self._windows.get(key)
        if windows is None:
            return
        windows.pop(window.grant_id, None)
        if not windows:
            del self._windows[key]
            self._links.delete_link(*key)

    def sweep(self, at: datetime) -> int:
        """Drop the windows that ended by ``at`` (they already deny); returns how many went."""
        ended = [
            window
            for windows in self._windows.values()
            for window in windows.values()
            if window.valid_until is not None and window.valid_until <= at
        ]
        for window in ended:
            self.discard(window)
        return len(ended)

    @property
    def link_count(self) -> int:
        return len(self._windows)

    @staticmethod
    def _key(window: GrantWindow) -> LinkKey | None:
        """The Casbin role link of a window; None for a scope we do not know."""
        kind = scope_kind(window.scope)
        return None if kind is None else (window.subject, casbin_role(kind, window.role), window.scope)

    def _loadable_key(self, window: GrantWindow) -> LinkKey | None:
        """The link of a window that may be loaded: one whose scope and validity we can read (else denied)."""
        key = self._key(window)
        if key is None or not _readable(window):
            log.warning("grant %s has no readable scope or validity: denied", window.grant_id)
            return None
        return key

    def _stable_span(self, subject: str, scope: str, now: datetime) -> tuple[datetime, datetime] | None:
        """The interval around ``now`` in which none of the subject's windows in ``scope`` starts or ends."""
        kind = scope_kind(scope)
        try:
            boundaries = [
                edge
                for role in (roles_of_kind(kind) if kind is not None else ())
                for window in self._windows.get((subject, role.casbin_name, scope), {}).values()
                for edge in (window.valid_from, window.valid_until)
                if edge is not None
            ]
            since = max((edge for edge in boundaries if edge <= now), default=EARLIEST)
            until = min((edge for edge in boundaries if edge > now), default=LATEST)
        except TypeError:
            return None  # an unreadable window: decide afresh every time (and deny, see _grant_valid)
        return since, until

    def _grant_valid(self, subject: str, role: str, scope: str) -> bool:
        try:
            now = utcnow()
            return any(window.covers(now) for window in self._windows.get((subject, role, scope), {}).values())
        except (TypeError, ValueError):
            log.exception("unreadable grant window for %s %s %s: denied", subject, role, scope)
            return False
