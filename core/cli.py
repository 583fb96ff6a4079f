"""The ``cellorg`` command. Each folder adds its own commands through the ``cellorg.cli`` entry points."""

import asyncio
import logging
import threading
from importlib.metadata import entry_points

import typer
from redis import Redis
from rich.console import Console
from rq import Queue, Worker
from rq.cron import CronScheduler

from cellorg.core.jobs import PERIODIC_SECONDS, periodic_jobs, run_periodic
from cellorg.core.migrate import upgrade
from cellorg.core.runtime import Runtime, connect_redis
from cellorg.core.settings import get_settings

console = Console()
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to reach.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = get_settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]database at {revision}[/green]")


def worker(burst: bool = typer.Option(False, help="Stop when the queue is empty.")) -> None:
    """Run an rq worker with its scheduler, relaying outbox jobs that missed Redis at commit time."""
    settings = get_settings()
    if not settings.redis_url:
        console.print("[red]CELLORG_REDIS_URL is not set: without Redis, jobs run in the API process.[/red]")
        raise typer.Exit(2)
    runtime = Runtime.from_settings(settings)
    assert runtime.redis is not None
    asyncio.run(runtime.dispatcher.dispatch_pending())
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_relay_outbox, args=(stop,), daemon=True).start()
    try:
        Worker([Queue(settings.queue_name, connection=runtime.redis)], connection=runtime.redis).work(
            with_scheduler=True, burst=burst
        )
    finally:
        stop.set()
        asyncio.run(runtime.close())


def cron() -> None:
    """Enqueue the timed jobs (close overdue projects, ...) with rq's cron scheduler, every minute."""
    settings = get_settings()
    if not settings.redis_url:
        console.print("[red]CELLORG_REDIS_URL is not set: without Redis, timed jobs run in the API process.[/red]")
        raise typer.Exit(2)
    cron_scheduler(connect_redis(settings.redis_url), settings.queue_name).start()  # type: ignore[no-untyped-call]


def cron_scheduler(redis: Redis, queue_name: str) -> CronScheduler:
    scheduler = CronScheduler(connection=redis, name=f"cellorg-{queue_name}")
    for name, path in periodic_jobs().items():
        scheduler.register(run_periodic, queue_name, args=(path,), interval=PERIODIC_SECONDS, name=name)
    return scheduler


def _relay_outbox(stop: threading.Event) -> None:
    async def relay() -> None:
        runtime = Runtime.from_settings(get_settings())
        try:
            await runtime.dispatcher.relay(stop=stop.is_set)
        finally:
            await runtime.close()

    asyncio.run(relay())


def register(root: typer.Typer) -> None:
    root.add_typer(db_app, name="db")
    root.command("worker")(worker)
    root.command("cron")(cron)


def build_app() -> typer.Typer:
    """The root command with every folder's commands, found through the ``cellorg.cli`` entry points."""
    root = typer.Typer(no_args_is_help=True, help="cellorg: squads, skills, grants and a verifiable ledger.")
    for entry_point in sorted(entry_points(group="cellorg.cli"), key=lambda ep: ep.name):
        entry_point.load()(root)
    return root


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_app()()
