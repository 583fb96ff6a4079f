"""``cellorg seed``: a large, realistic organisation for load tests."""

import asyncio

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from cellorg.core.db import commit
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime
from cellorg.core.settings import get_settings
from cellorg.org.seed import seed_large_org

console = Console()


def seed(
    people: int = typer.Option(1_000, min=0, help="People to add."),
    units: int = typer.Option(200, min=4, help="Units to add across the built-in dimensions."),
    random_seed: int = typer.Option(7, help="The same seed gives the same organisation."),
) -> None:
    """Add a realistic organisation: unit trees per dimension, people with home and matrix memberships."""
    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("seeding units and people", total=people + units)
                async with runtime.session_factory() as session:
                    summary = await seed_large_org(
                        session,
                        people=people,
                        units=units,
                        seed=random_seed,
                        progress=lambda done: bar.advance(task, done),
                    )
                    await commit(session)
            console.print(
                f"[green]added {summary.units} units, {summary.people} people, "
                f"{summary.memberships} memberships[/green]"
            )
        finally:
            await runtime.close()

    asyncio.run(run())


def register(root: typer.Typer) -> None:
    root.command("seed")(seed)
