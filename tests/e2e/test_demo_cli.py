"""The story's audit from the command line, on the embedded SQLite file: verify the bonus statement and the
ledger, export the statement, then catch a database administrator's edit."""

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellorg.core.cli import build_app
from cellorg.core.settings import get_settings

runner = CliRunner()
app = build_app()


@pytest.fixture
def demo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "demo.db"
    monkeypatch.setenv("CELLORG_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    seeded = runner.invoke(app, ["demo"])
    assert seeded.exit_code == 0, seeded.output
    yield path
    get_settings.cache_clear()


def printed(result_output: str) -> str:
    return " ".join(result_output.split())  # Rich wraps at the terminal's width


def test_the_auditor_verifies_the_statement_and_catches_an_edited_contribution(demo_file: Path) -> None:
    verified = runner.invoke(app, ["bonus", "verify", "1"])
    assert verified.exit_code == 0, verified.output
    assert "OK statement 1 recomputes to 0x" in printed(verified.output)
    exported = runner.invoke(app, ["bonus", "export", "1", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [(row["name"], row["amount"]) for row in rows] == [
        ("Wang Lei", "22556.39"),
        ("Chen Jing", "43308.27"),
        ("Liu Yang", "27067.67"),
        ("Zhao Min", "27067.67"),
    ]

    with sqlite3.connect(demo_file) as database:  # around the append-only triggers, as an administrator could
        database.execute("DROP TRIGGER ledger_entries_no_update")
        database.execute("UPDATE ledger_entries SET points = 80 WHERE seq = 1")
    mismatch = runner.invoke(app, ["bonus", "verify", "1"])
    assert mismatch.exit_code == 1
    assert "MISMATCH stored 0x" in printed(mismatch.output)
    replayed = runner.invoke(app, ["ledger", "verify"])
    assert replayed.exit_code == 1
    assert "MISMATCH entry 1: its points column differs from the signed payload" in printed(replayed.output)
