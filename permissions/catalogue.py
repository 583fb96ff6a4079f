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
PROJECTS_CREATE = Permission("projects", "create")
SKILLS_CURATE = Permission("skills", "curate")
SKILLS_USE = Permission("skills", "use")  # propose skills, claim one's own, endorse colleagues

PROJECT_READ = Permission("project", "read")
PROJECT_MANAGE = Permission("project", "manage")
SQUAD_READ = Permission("squad", "read")
SQUAD_WRITE = Permission("squad", "write")
OKRS_READ = Permission("okrs", "read")
OKRS_WRITE = Permission("okrs", "write")
CONTRIBUTIONS_READ = Permission("contributions", "read")
CONTRIBUTIONS_WRITE = Permission("contributions", "write")
DECISIONS_READ = Permission("decisions", "read")
DECISIONS_WRITE = Permission("decisions", "write")
BONUS_READ = Permission("bonus", "read")
BONUS_MANAGE = Permission("bonus", "manage")  # policies, pools, computing and approving statements
LEDGER_CHECKPOINT = Permission("ledger", "checkpoint")  # publish a signed tree head on demand

READ_EVERY_PROJECT = frozenset({PROJECT_READ, SQUAD_READ, OKRS_READ, CONTRIBUTIONS_READ, DECISIONS_READ, BONUS_READ})


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    scope_kind: ScopeKind
    description: str
    permissions: frozenset[Permission]

    @property
    def casbin_name(self) -> str:
        return casbin_role(self.scope_kind, self.name)


ROLES: tuple[Role, ...] = (
    # Org-wide roles: granted in the org scope, they apply in every scope.
    Role(
        "admin",
        ScopeKind.ORG,
        "Models the org graph, manages people and org roles, forms squads.",
        frozenset(
            {
                ORG_READ,
                ORG_WRITE,
                GRANTS_READ,
                GRANTS_WRITE,
                PROJECTS_CREATE,
                SKILLS_CURATE,
                SKILLS_USE,
                LEDGER_CHECKPOINT,
            }
        ),
    ),
    Role("manager", ScopeKind.ORG, "Forms deal squads.", frozenset({ORG_READ, PROJECTS_CREATE})),
    Role(
        "finance",
        ScopeKind.ORG,
        "Runs bonus rounds: policies, pools, statements; reads every project's contributions.",
        frozenset({ORG_READ, BONUS_READ, BONUS_MANAGE, PROJECT_READ, CONTRIBUTIONS_READ}),
    ),
    Role(
        "auditor",
        ScopeKind.ORG,
        "Reads every record and the grant trail.",
        frozenset({ORG_READ, GRANTS_READ, LEDGER_CHECKPOINT}) | READ_EVERY_PROJECT,
    ),
    Role(
        "member",
        ScopeKind.ORG,
        "Every active person: reads the org graph, claims skills, endorses colleagues.",
        frozenset({ORG_READ, SKILLS_USE}),
    ),
    # Project roles: granted in one project's scope, until the project ends.
    Role(
        "lead",
        ScopeKind.PROJECT,
        "Runs the squad: staffing, lifecycle, OKRs, key decisions.",
        frozenset(
            {
                PROJECT_READ,
                PROJECT_MANAGE,
                SQUAD_READ,
                SQUAD_WRITE,
                OKRS_READ,
                OKRS_WRITE,
                CONTRIBUTIONS_READ,
                CONTRIBUTIONS_WRITE,
                DECISIONS_READ,
                DECISIONS_WRITE,
                BONUS_READ,
            }
        ),
    ),
    Role(
        "member",
        ScopeKind.PROJECT,
        "Delivers: records contributions, updates OKRs, reads decisions.",
        frozenset(
            {PROJECT_READ, SQUAD_READ, OKRS_READ, OKRS_WRITE, CONTRIBUTIONS_READ, CONTRIBUTIONS_WRITE, DECISIONS_READ}
        ),
    ),
    Role(
        "advisor",
        ScopeKind.PROJECT,
        "Contributes expertise; reads decisions, cannot change the squad.",
        frozenset({PROJECT_READ, SQUAD_READ, OKRS_READ, CONTRIBUTIONS_READ, CONTRIBUTIONS_WRITE, DECISIONS_READ}),
    ),
    Role(
        "finance",
        ScopeKind.PROJECT,
        "Reads the project's figures, decisions and bonus.",
        frozenset({PROJECT_READ, SQUAD_READ, CONTRIBUTIONS_READ, DECISIONS_READ, BONUS_READ}),
    ),
    Role(
        "observer",
        ScopeKind.PROJECT,
        "Follows the project without changing it.",
        frozenset({PROJECT_READ, SQUAD_READ, OKRS_READ, DECISIONS_READ}),
    ),
)
_BY_KIND_AND_NAME = {(role.scope_kind, role.name): role for role in ROLES}

MEMBER_ROLE = "member"
ADMIN_ROLE = "admin"
LEAD_ROLE = "lead"


def role_named(name: str, kind: ScopeKind) -> Role | None:
    return _BY_KIND_AND_NAME.get((kind, name))


def roles_of_kind(kind: ScopeKind) -> tuple[Role, ...]:
    return tuple(role for role in ROLES if role.scope_kind is kind)


def scope_kind(scope: str) -> ScopeKind | None:
    """``org`` or ``project:<id>``; anything else is no scope at all."""
    if scope == ORG_SCOPE:
        return ScopeKind.ORG
    kind, _, key = scope.partition(":")
    return ScopeKind.PROJECT if kind == ScopeKind.PROJECT and key.isdigit() else None


def project_scope(project_id: int) -> str:
    return f"{ScopeKind.PROJECT.value}:{project_id}"


def subject_of_person(person_id: int) -> str:
    return f"person:{person_id}"


def casbin_role(kind: ScopeKind, name: str) -> str:
    """Roles live in their own namespace: Casbin's ``g(x, x, dom)`` is true for any x."""
    return f"role:{kind.value}:{name}"
