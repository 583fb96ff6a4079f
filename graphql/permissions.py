"""Grants and the role catalogue in GraphQL: admins grant and revoke org roles, auditors read the trail."""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from cellorg.core.clock import utcnow
from cellorg.core.errors import NotFoundError
from cellorg.graphql.edges import mutation_field, query_field
from cellorg.graphql.errors import NotFound, PermissionDenied, ValidationError
from cellorg.org import models as org_models
from cellorg.permissions import models, repository, service
from cellorg.permissions.catalogue import GRANTS_READ, GRANTS_WRITE, ORG_READ, ROLES, ScopeKind, subject_of_person


@strawberry.type(description="A role for a subject in a scope over a validity window; never deleted.")
class Grant:
    id: int
    subject: str
    role: str
    scope: str
    valid_from: datetime
    valid_until: datetime | None
    granted_by: str | None
    reason: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    record: strawberry.Private[models.Grant]

    @classmethod
    def of(cls, row: models.Grant) -> "Grant":
        return cls(
            id=row.id,
            subject=row.subject,
            role=row.role,
            scope=row.scope,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            granted_by=row.granted_by,
            reason=row.reason,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
            revoke_reason=row.revoke_reason,
            record=row,
        )

    @strawberry.field(description="Whether the grant works at this moment.")
    def live(self) -> bool:
        return self.record.is_live(utcnow())


@strawberry.type
class RoleInfo:
    name: str
    scope_kind: str
    description: str
    permissions: list[str]


GrantResult = Annotated[Grant | ValidationError | NotFound | PermissionDenied, strawberry.union("GrantResult")]


@strawberry.type
class PermissionsQuery:
    @query_field(description="The role catalogue.")
    def roles(self, info: Info) -> list[RoleInfo]:
        info.context.require(ORG_READ)
        return [
            RoleInfo(
                name=role.name,
                scope_kind=role.scope_kind.value,
                description=role.description,
                permissions=sorted(str(p) for p in role.permissions),
            )
            for role in ROLES
        ]

    @query_field(description="The grant audit trail: who granted or ended what, when and why.")
    async def grants(
        self, info: Info, person_id: int | None = None, scope: str | None = None, live_only: bool = False
    ) -> list[Grant]:
        info.context.require(GRANTS_READ)
        rows = await repository.grants_of(
            info.context.db,
            subject=subject_of_person(person_id) if person_id is not None else None,
            scope=scope,
            live_at=utcnow() if live_only else None,
        )
        return [Grant.of(row) for row in rows]


@strawberry.type
class PermissionsMutation:
    @mutation_field(description="Give a person an org-wide role (admin, finance, auditor, member).")
    async def grant_org_role(
        self, info: Info, person_id: int, role: str, reason: str, valid_until: datetime | None = None
    ) -> GrantResult:
        info.context.require(GRANTS_WRITE)
        person = await info.context.db.get(org_models.Person, person_id)
        if person is None or not person.active:
            raise NotFoundError("Person", person_id)
        grant = await service.grant_role(
            info.context.db,
            info.context.services.policy,
            subject=subject_of_person(person_id),
            role=role,
            scope=ScopeKind.ORG.value,
            granted_by=info.context.viewer.subject,
            reason=reason,
            valid_until=valid_until,
        )
        return Grant.of(grant)

    @mutation_field(description="End a grant now; the row stays in the trail with who ended it and why.")
    async def revoke_grant(self, info: Info, grant_id: int, reason: str) -> GrantResult:
        info.context.require(GRANTS_WRITE)
        grant = await service.revoke_grant(
            info.context.db,
            info.context.services.policy,
            grant_id,
            revoked_by=info.context.viewer.subject,
            reason=reason,
        )
        return Grant.of(grant)
