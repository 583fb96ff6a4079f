"""Typed settings, read once from ``CELLORG_*`` environment variables."""

from enum import StrEnum
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_SECRET = "cellorg-dev-secret-change-me-in-production"  # noqa: S105  (a dev-only default)


class Mode(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLORG_", env_file=".env", extra="ignore")

    mode: Mode = Mode.DEV
    database_url: str = "sqlite+aiosqlite:///./cellorg.db"
    redis_url: str | None = None
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    token_issuer: str = "cellorg"  # noqa: S105  (the issuer claim, not a secret)
    token_ttl_seconds: int = 8 * 3600
    queue_name: str = "cellorg"
    max_allocation_pct: int = Field(default=100, ge=1, le=1000)
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "Settings":
        secret = self.token_secret.get_secret_value()
        if self.mode is Mode.PROD and (secret == DEV_TOKEN_SECRET or len(secret) < 32):
            msg = "CELLORG_TOKEN_SECRET must be set to at least 32 characters in prod mode"
            raise ValueError(msg)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
