from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cellorg.core.clock import Clock
from cellorg.core.settings import Mode, Settings


def test_prod_mode_refuses_the_dev_secret_and_the_dev_service_key() -> None:
    with pytest.raises(ValidationError, match="CELLORG_TOKEN_SECRET"):
        Settings(mode=Mode.PROD)
    with pytest.raises(ValidationError, match="CELLORG_SERVICE_KEY"):
        Settings(mode=Mode.PROD, token_secret="x" * 32)
    assert Settings(mode=Mode.PROD, token_secret="x" * 32, service_key="0x" + "12" * 32).mode is Mode.PROD


def test_settings_read_the_cellorg_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELLORG_DATABASE_URL", "postgresql+asyncpg://db/x")
    monkeypatch.setenv("CELLORG_REDIS_URL", "redis://r:6379/0")
    settings = Settings()
    assert (settings.database_url, settings.redis_url) == ("postgresql+asyncpg://db/x", "redis://r:6379/0")


def test_clock_is_utc_and_can_be_moved() -> None:
    clock = Clock()
    assert clock.now().tzinfo is UTC
    eight_hours_ahead = timezone(timedelta(hours=8))
    clock.freeze(datetime(2026, 12, 4, 17, 0, tzinfo=eight_hours_ahead))
    assert clock.now() == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    clock.advance(timedelta(seconds=1))
    assert clock.now() == datetime(2026, 12, 4, 9, 0, 1, tzinfo=UTC)
    with clock.frozen(datetime(2030, 1, 1, tzinfo=UTC)):
        assert clock.now().year == 2030
    assert clock.now() == datetime(2026, 12, 4, 9, 0, 1, tzinfo=UTC)


def test_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Clock().freeze(datetime(2026, 1, 1))  # noqa: DTZ001
