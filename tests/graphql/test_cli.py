"""The command line against a real database file: bootstrap an admin, issue a token, use it."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellorg.core.cli import build_app
from cellorg.core.settings import Settings, get_settings
from cellorg.graphql.auth import TokenCodec

runner = CliRunner()
app = build_app()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CELLORG_DATABASE_URL", url)
    get_settings.cache_clear()
    migrated = runner.invoke(app, ["db", "upgrade"])
    assert migrated.exit_code == 0, migrated.output
    yield url
    get_settings.cache_clear()


def test_admin_create_then_token_issue(cli_database: str) -> None:
    created = runner.invoke(app, ["admin", "create", "root@example.com", "--name", "Root"])
    assert created.exit_code == 0, created.output
    assert "root@example.com is an admin" in created.output
    again = runner.invoke(app, ["admin", "create", "root@example.com"])
    assert again.exit_code == 1
    assert "already holds admin" in again.output
    issued = runner.invoke(app, ["token", "issue", "root@example.com", "--ttl", "30m"])
    assert issued.exit_code == 0, issued.output
    viewer = TokenCodec.from_settings(Settings()).viewer_from_token(issued.output.strip())
    assert viewer.person_id == 1


def test_token_for_unknown_person_fails(cli_database: str) -> None:
    result = runner.invoke(app, ["token", "issue", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no active person" in result.output


def test_seed_reports_what_it_added(cli_database: str) -> None:
    result = runner.invoke(app, ["seed", "--people", "30", "--units", "40"])
    assert result.exit_code == 0, result.output
    assert "added 40 units, 30 people" in result.output
