"""Per-request context: one session, the viewer, the authorizer and fresh DataLoaders."""

from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.litestar import BaseContext

from cellorg.core.errors import PermissionDeniedError
from cellorg.core.runtime import Runtime
from cellorg.graphql.auth import AuthenticationFailed, TokenCodec
from cellorg.graphql.errors import UNAUTHENTICATED, coded_error, graphql_error
from cellorg.graphql.loaders import Loaders
from cellorg.ledger.appender import LedgerAppender
from cellorg.permissions.authorize import Authorizer, Viewer
from cellorg.permissions.catalogue import Permission
from cellorg.permissions.enforcer import PolicyEnforcer


@dataclass
class Services:
    """What the app shares across requests; built once by the lifespan."""

    runtime: Runtime
    policy: PolicyEnforcer
    tokens: TokenCodec
    appender: LedgerAppender


class Context(BaseContext, kw_only=True):
    services: Any
    viewer: Any = None
    auth_error: str | None = None
    authorizer: Any
    loaders: Any = None
    read_only: bool = False
    session: Any = None

    @property
    def db(self) -> AsyncSession:
        """The request's one session, opened on first use: a read-only operation never begins a transaction."""
        if self.session is None:
            runtime: Runtime = self.services.runtime
            self.session = runtime.open_session(read_only=self.read_only)
        session: AsyncSession = self.session
        return session

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise coded_error(self.auth_error or "authentication required", UNAUTHENTICATED)
        viewer: Viewer = self.viewer
        return viewer

    def require(self, permission: Permission, scope: str = "org") -> None:
        self.authz.require(permission, scope)

    def check(self, permission: Permission, scope: str = "org") -> None:
        """``require`` for nested fields, which no edge wraps: fails the field with a coded error."""
        try:
            self.authz.require(permission, scope)
        except PermissionDeniedError as error:
            raise graphql_error(error) from error

    @property
    def authz(self) -> Authorizer:
        authorizer: Authorizer = self.authorizer
        return authorizer


async def build_context(request: Request[Any, Any, Any]) -> Context:
    services: Services = request.app.state.services
    viewer: Viewer | None = None
    auth_error: str | None = None
    try:
        viewer = services.tokens.viewer_from_header(request.headers.get("authorization"))
    except AuthenticationFailed as error:
        auth_error = str(error)
    context = Context(
        services=services, viewer=viewer, auth_error=auth_error, authorizer=Authorizer(services.policy, viewer)
    )
    context.loaders = Loaders(lambda: context.db)
    return context
