"""``cellorg bonus``: verify a statement against the ledger, export it."""

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.db import get_or_fail
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.bonus.export import statement_csv, statement_json
from cellorg.ledger.bonus.models import BonusStatement
from cellorg.ledger.cli import with_session
from cellorg.org.models import Person

app = typer.Typer(help="Bonus statements: verify against the ledger, export.", no_args_is_help=True)
console = Console()


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"


@app.command()
def verify(statement: int) -> None:
    """Recompute STATEMENT from the ledger at its checkpoint and compare the hashes."""
    stored, recomputed = with_session(lambda session: bonus.recompute(session, statement))
    if stored != recomputed:
        console.print(f"[red]MISMATCH[/red] stored 0x{stored.hex()}, recomputed from the ledger 0x{recomputed.hex()}")
        raise typer.Exit(1)
    console.print(f"[green]OK[/green] statement {statement} recomputes to 0x{stored.hex()}")


@app.command()
def export(statement: int, file_format: Annotated[Format, typer.Option("--format", "-f")] = Format.CSV) -> None:
    """Print STATEMENT as CSV (a row per member) or JSON."""

    async def work(session: AsyncSession) -> str:
        row = await get_or_fail(session, BonusStatement, statement, "BonusStatement")
        ids = [line["personId"] for line in row.content["lines"]]
        names = dict((await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))).all())
        return statement_csv(row, names) if file_format is Format.CSV else statement_json(row, names)

    typer.echo(with_session(work), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="bonus")
