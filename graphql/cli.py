"""``cellorg serve``, ``cellorg demo``, ``cellorg token issue`` and ``cellorg admin create``."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.db import commit
from cellorg.core.errors import DomainError
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime
from cellorg.core.settings import Settings, get_settings
from cellorg.graphql.app import create_app
from cellorg.graphql.auth import TokenCodec
from cellorg.graphql.demo import STORY_PEOPLE, seed_demo
from cellorg.org import service as org
from cellorg.org.repository import person_by_email
from cellorg.permissions.catalogue import ADMIN_ROLE, subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role, load_policy

_T = TypeVar("_T")
console = Console()
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens.")
admin_app = typer.Typer(no_args_is_help=True, help="Bootstrap administrators.")


def _parse_ttl(ttl: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(ttl) < 2 or ttl[-1] not in units or not ttl[:-1].isdigit():
        raise typer.BadParameter("use a number and a unit: 30m, 8h, 7d")
    return timedelta(seconds=int(ttl[:-1]) * units[ttl[-1]])


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """Run ``work`` in one committed transaction; a domain error is printed and exits non-zero."""

    async def run() -> _T:
        runtime = Runtime.from_settings(settings)
        try:
            async with runtime.session_factory() as session:
                result = await work(session)
                await commit(session)
                return result
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except DomainError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error


def demo() -> None:
    """Seed the reference story's organisation (idempotent) and print a token for each of its people."""
    settings = get_settings()
    upgrade(settings.database_url)

    async def work(session: AsyncSession) -> bool:
        return await seed_demo(session, PolicyEnforcer())

    created = _in_transaction(settings, work)
    console.print("[green]demo organisation seeded[/green]" if created else "demo organisation already there")
    _print_demo_tokens(settings)


def _print_demo_tokens(settings: Settings) -> None:
    tokens = TokenCodec.from_settings(settings)

    async def ids(session: AsyncSession) -> list[tuple[str, str, int]]:
        found = []
        for demo_person in STORY_PEOPLE:
            person = await person_by_email(session, demo_person.email)
            if person is not None:
                found.append((demo_person.name, demo_person.org_role or "member", person.id))
        return found

    console.print("Tokens for the story's people (send as the Authorization header):")
    for name, role, person_id in _in_transaction(settings, ids):
        console.print(f"[bold]{name}[/bold] ({role})")
        typer.echo(f"  Bearer {tokens.issue(person_id)}")


def serve(
    demo_data: bool = typer.Option(False, "--demo", help="Seed the reference story first."),
    host: str | None = typer.Option(None, help="Bind address (default CELLORG_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CELLORG_PORT)."),
) -> None:
    """Apply migrations and serve GraphQL at /graphql (GraphiQL in dev mode)."""
    settings = get_settings()
    upgrade(settings.database_url)
    if demo_data:
        demo()
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"GraphQL at [bold]http://{bind_host}:{bind_port}/graphql[/bold]")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")


@token_app.command("issue")
def issue_token(email: str, ttl: str = typer.Option("8h", help="Lifetime: 30m, 8h, 7d.")) -> None:
    """Print a bearer token for the person with EMAIL."""
    settings = get_settings()

    async def work(session: AsyncSession) -> int | None:
        person = await person_by_email(session, email)
        return person.id if person is not None and person.active else None

    person_id = _in_transaction(settings, work)
    if person_id is None:
        console.print(f"[red]no active person with email {email}[/red]")
        raise typer.Exit(1)
    typer.echo(TokenCodec.from_settings(settings).issue(person_id, _parse_ttl(ttl)))


@admin_app.command("create")
def create_admin(email: str, name: str = typer.Option("Administrator", help="Name, if the person is new.")) -> None:
    """Make the person with EMAIL an org admin, creating them first if needed."""
    settings = get_settings()
    upgrade(settings.database_url)

    async def work(session: AsyncSession) -> str:
        policy = PolicyEnforcer()
        await load_policy(session, policy)
        person = await person_by_email(session, email)
        if person is None:
            person = await org.create_person(
                session, policy, name=name, email=email, home_unit_id=None, created_by=None
            )
        await grant_role(
            session,
            policy,
            subject=subject_of_person(person.id),
            role=ADMIN_ROLE,
            granted_by=None,
            reason="bootstrap: cellorg admin create",
        )
        return person.email

    _in_transaction(settings, work)
    console.print(f"[green]{email} is an admin[/green]")


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
    root.command("demo")(demo)
    root.add_typer(token_app, name="token")
    root.add_typer(admin_app, name="admin")
