"""The enforcer: shared p lines, g lines per scope, validity against core's clock, failing closed."""

from datetime import UTC, datetime, timedelta

import pytest

from cellorg.core.clock import clock
from cellorg.permissions.enforcer import GrantWindow, PolicyEnforcer

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2026, 12, 31, tzinfo=UTC)


def window(
    grant_id: int = 1,
    subject: str = "person:7",
    role: str = "admin",
    scope: str = "org",
    start: datetime = START,
    end: datetime | None = END,
) -> GrantWindow:
    return GrantWindow(grant_id, subject, role, scope, start, end)


def test_grant_works_until_the_second_before_its_end() -> None:
    policy = PolicyEnforcer()
    policy.load([window()])
    clock.freeze(END - timedelta(seconds=1))
    assert policy.enforce("person:7", "org", "org", "write")
    clock.freeze(END)
    assert not policy.enforce("person:7", "org", "org", "write")


def test_grant_does_not_work_before_it_starts() -> None:
    policy = PolicyEnforcer()
    policy.load([window()])
    clock.freeze(START - timedelta(seconds=1))
    assert not policy.enforce("person:7", "org", "org", "write")
    clock.freeze(START)
    assert policy.enforce("person:7", "org", "org", "write")


def test_role_gives_only_its_permissions() -> None:
    policy = PolicyEnforcer()
    policy.load([window(role="member", end=None)])
    clock.freeze(START)
    assert policy.enforce("person:7", "org", "org", "read")
    assert not policy.enforce("person:7", "org", "org", "write")
    assert not policy.enforce("person:7", "org", "grants", "read")


def test_grant_in_one_scope_gives_nothing_in_another() -> None:
    policy = PolicyEnforcer()
    policy.load([window(role="member", scope="project:1", end=None)])
    clock.freeze(START)
    assert policy.enforce("person:7", "project:1", "contributions", "write")
    assert not policy.enforce("person:7", "project:2", "contributions", "write")
    assert not policy.enforce("person:7", "org", "contributions", "write")


def test_subject_named_like_a_role_gets_nothing() -> None:
    """Casbin's g(x, x, dom) is true: subjects and roles live in separate namespaces."""
    policy = PolicyEnforcer()
    policy.load([window()])
    clock.freeze(START)
    for subject in ("admin", "role:admin", "role:org:admin", "person:admin"):
        assert not policy.enforce(subject, "org", "org", "write")


def test_org_and_project_roles_of_the_same_name_are_different_roles() -> None:
    """``member`` in the org reads the org graph; ``member`` in a project works in that project only."""
    policy = PolicyEnforcer()
    policy.load([window(1, role="member", end=None), window(2, subject="person:8", role="member", scope="project:4")])
    clock.freeze(START)
    assert policy.enforce("person:7", "org", "org", "read")
    assert not policy.enforce("person:7", "project:4", "contributions", "write")
    assert policy.enforce("person:8", "project:4", "contributions", "write")
    assert not policy.enforce("person:8", "project:4", "org", "read")


def test_window_in_an_unknown_scope_is_never_loaded() -> None:
    policy = PolicyEnforcer()
    policy.load([window(scope="team:1")])
    clock.freeze(START)
    assert policy.link_count == 0
    assert not policy.enforce("person:7", "team:1", "org", "write")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, END),
        (START.replace(tzinfo=None), END),  # no timezone: which second would it end at?
        (START, END.replace(tzinfo=None)),
        (END, START),  # ends before it starts
        ("2026-12-01", END),
    ],
    ids=["no-start", "naive-start", "naive-end", "inverted", "text"],
)
def test_grant_whose_validity_cannot_be_read_denies(start, end) -> None:  # type: ignore[no-untyped-def]
    policy = PolicyEnforcer()
    policy.load([GrantWindow(1, "person:7", "admin", "org", start, end), window(2, subject="person:8")])
    clock.freeze(START + timedelta(days=1))
    assert not policy.enforce("person:7", "org", "org", "write")
    assert policy.enforce("person:8", "org", "org", "write")


def test_discarding_the_last_window_removes_the_link_but_keeps_others() -> None:
    policy = PolicyEnforcer()
    first, second = window(1), window(2, start=END, end=None)
    policy.load([first, second])
    assert policy.link_count == 1
    policy.discard(first)
    clock.freeze(START)
    assert not policy.enforce("person:7", "org", "org", "write")
    clock.freeze(END)
    assert policy.enforce("person:7", "org", "org", "write")
    policy.discard(second)
    assert policy.link_count == 0


def test_reload_replaces_every_link() -> None:
    policy = PolicyEnforcer()
    policy.load([window(subject="person:1")])
    policy.load([window(subject="person:2")])
    clock.freeze(START)
    assert not policy.enforce("person:1", "org", "org", "write")
    assert policy.enforce("person:2", "org", "org", "write")


def test_memoized_decision_follows_the_clock_both_ways() -> None:
    policy = PolicyEnforcer()
    policy.load([window()])
    clock.freeze(START + timedelta(days=1))
    assert policy.enforce("person:7", "org", "org", "write")
    clock.freeze(END)
    assert not policy.enforce("person:7", "org", "org", "write")
    clock.freeze(END - timedelta(seconds=1))
    assert policy.enforce("person:7", "org", "org", "write")
    clock.freeze(START - timedelta(seconds=1))
    assert not policy.enforce("person:7", "org", "org", "write")


def test_memoized_decision_is_dropped_when_a_grant_changes() -> None:
    policy = PolicyEnforcer()
    first = window(end=None)
    policy.load([first])
    clock.freeze(START)
    assert policy.enforce("person:7", "org", "org", "write")
    policy.discard(first)
    assert not policy.enforce("person:7", "org", "org", "write")
    policy.upsert(first)
    assert policy.enforce("person:7", "org", "org", "write")
