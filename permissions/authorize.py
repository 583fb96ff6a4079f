"""The single authorization entry point every resolver goes through."""

from dataclasses import dataclass, field

from cellorg.core.errors import PermissionDeniedError
from cellorg.permissions.catalogue import ORG_SCOPE, Permission, subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer


@dataclass(frozen=True, slots=True)
class Viewer:
    person_id: int

    @property
    def subject(self) -> str:
        return subject_of_person(self.person_id)


def authorize(policy: PolicyEnforcer, viewer: Viewer | None, permission: Permission, scope: str = ORG_SCOPE) -> bool:
    """True when a live grant gives ``viewer`` the permission in ``scope``; org-wide roles apply everywhere."""
    if viewer is None:
        return False
    if policy.enforce(viewer.subject, ORG_SCOPE, permission.obj, permission.action):
        return True
    return scope != ORG_SCOPE and policy.enforce(viewer.subject, scope, permission.obj, permission.action)


@dataclass
class Authorizer:
    """Per-request authorization for one viewer, memoized so a list never checks per row."""

    policy: PolicyEnforcer
    viewer: Viewer | None
    _decisions: dict[tuple[Permission, str], bool] = field(default_factory=dict)

    def allows(self, permission: Permission, scope: str = ORG_SCOPE) -> bool:
        key = (permission, scope)
        if key not in self._decisions:
            self._decisions[key] = authorize(self.policy, self.viewer, permission, scope)
        return self._decisions[key]

    def require(self, permission: Permission, scope: str = ORG_SCOPE) -> None:
        if not self.allows(permission, scope):
            raise PermissionDeniedError(str(permission), scope)
