"""The role catalogue: which permissions each role carries. Read every rule on one screen.

Permissions are (object, action) pairs. They become the shared Casbin ``p`` lines, one set for all
scopes; a grant places a subject in a role within one scope (the org or one project).
"""

from dataclasses import dataclass
from enum import StrEnum

ORG_SCOPE = "org"


class ScopeKind(StrEnum):
    ORG = "org"
    PROJECT = "project"


@dataclass(frozen=True, slots=True)
class Permission:
    obj: str
    action: str

    def __str__(self) -> str:
        return f"{self.action} {self.obj}"


ORG_READ = Permission("org", "read")
ORG_WRITE = Permission("org", "write")
GRANTS_READ = Permission("grants", "read")
GRANTS_WRITE = Permission("grants", "write")


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    scope_kind: ScopeKind
    description: str
    permissions: frozenset[Permission]


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "admin",
            ScopeKind.ORG,
            "Models the org graph and manages people and org roles.",
            frozenset({ORG_READ, ORG_WRITE, GRANTS_READ, GRANTS_WRITE}),
        ),
        Role("finance", ScopeKind.ORG, "Runs bonus rounds.", frozenset({ORG_READ})),
        Role("auditor", ScopeKind.ORG, "Reads every record and the grant trail.", frozenset({ORG_READ, GRANTS_READ})),
        Role("member", ScopeKind.ORG, "Every active person: reads the org graph.", frozenset({ORG_READ})),
    )
}

MEMBER_ROLE = "member"
ADMIN_ROLE = "admin"


def role_named(name: str) -> Role | None:
    return ROLES.get(name)


def subject_of_person(person_id: int) -> str:
    return f"person:{person_id}"


def casbin_role(name: str) -> str:
    """Roles live in their own namespace: Casbin's ``g(x, x, dom)`` is true for any x."""
    return f"role:{name}"
