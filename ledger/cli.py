"""``cellorg ledger``: checkpoint, prove an entry, verify a bundle offline, replay the whole log."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.db import commit
from cellorg.core.errors import DomainError
from cellorg.core.runtime import Runtime
from cellorg.core.settings import get_settings
from cellorg.ledger import chain
from cellorg.ledger import service as ledger
from cellorg.ledger.bundle import BundleError, verify_bundle
from cellorg.ledger.replay import replay, total_entries

app = typer.Typer(help="The contribution ledger: checkpoints, proof bundles, verification.", no_args_is_help=True)
console = Console()
_Result = TypeVar("_Result")


def with_session(work: Callable[[AsyncSession], Awaitable[_Result]]) -> _Result:
    """Run ``work`` in a session of its own; a domain error is printed and exits non-zero."""

    async def run() -> _Result:
        runtime = Runtime.from_settings(get_settings())
        try:
            async with runtime.session_factory() as session:
                return await work(session)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except DomainError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error


@app.command()
def checkpoint() -> None:
    """Publish a checkpoint of the log as it is now, and anchor it on the chain."""

    async def work(session: AsyncSession) -> str:
        row = await ledger.publish_checkpoint(session, ledger.LedgerKeys.from_settings())
        await commit(session)
        await ledger.anchor_checkpoint(session, row.id)
        await commit(session)
        return f"checkpoint of {row.tree_size} entries, root 0x{row.root.hex()}"

    console.print(with_session(work))


@app.command()
def prove(
    seq: int, output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")] = None
) -> None:
    """The proof bundle of entry SEQ (docs/proof-bundle.md)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await ledger.proof_bundle(session, ledger.LedgerKeys.from_settings(), seq)

    text = json.dumps(with_session(work), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")


@app.command("verify-bundle")
def verify_bundle_command(
    file: Path,
    rpc: str | None = typer.Option(None, "--rpc", help="Check the anchor transaction on this JSON-RPC node."),
    service_address: str | None = typer.Option(None, help="Require checkpoints signed by this address."),
) -> None:
    """Verify a proof bundle with no database: signature, inclusion proof, checkpoint and, with --rpc, anchor."""
    try:
        verified = verify_bundle(json.loads(file.read_text()), chain.connect(rpc) if rpc else None, service_address)
    except (BundleError, json.JSONDecodeError) as error:
        console.print(f"[red]FAILED[/red] {error}")
        raise typer.Exit(1) from error
    anchor = "anchor checked on chain" if verified.anchored_on_chain else "anchor not checked (no --rpc)"
    console.print(
        f"[green]OK[/green] entry {verified.seq} signed by {verified.signer}, included in the tree of "
        f"{verified.tree_size} entries with root {verified.root}; {anchor}"
    )


@app.command()
def verify(
    signatures: bool = typer.Option(False, "--signatures", help="Recover every signer too (slower)."),
) -> None:
    """Replay the whole log; name the first entry that does not match."""

    async def work(session: AsyncSession) -> str | None:
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("replaying the ledger", total=await total_entries(session))
            report = await replay(
                session,
                ledger.LedgerKeys.from_settings(),
                signatures=signatures,
                progress=lambda done: bar.advance(task, done),
            )
        if report.first_mismatch is not None:
            return str(report.first_mismatch)
        console.print(f"[green]OK[/green] {report.entries} entries and {report.checkpoints} checkpoints match")
        return None

    mismatch = with_session(work)
    if mismatch is not None:
        console.print(f"[red]MISMATCH[/red] {mismatch}")
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ledger")
