"""Typed settings, read once from ``CELLORG_*`` environment variables."""

from enum import StrEnum
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_SECRET = "cellorg-dev-secret-change-me-in-production"  # noqa: S105  (a dev-only default)
# keccak256("cellorg dev service key"): signs checkpoints and unsigned entries in dev mode only
DEV_SERVICE_KEY = "0xa32bc8524d34aedd856f086b560bf2707725288408bca528e48a23155197e26b"
# the embedded chain's id (EthereumTesterProvider); a deployment anchoring elsewhere sets its chain's id
EMBEDDED_CHAIN_ID = 131277322940537


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
    # The ledger: the service's Ethereum key, the chain its checkpoints are anchored on (None: the
    # embedded py-evm chain), and the EIP-712 domain every entry is signed in. No contract is deployed:
    # the address only names this ledger, so that a signature made for another one never verifies here.
    service_key: SecretStr = SecretStr(DEV_SERVICE_KEY)
    chain_rpc_url: str | None = None
    ledger_chain_id: int = EMBEDDED_CHAIN_ID
    ledger_verifying_contract: str = Field(
        default="0x000000000000000000000000000000000000Ce11", pattern=r"^0x[0-9a-fA-F]{40}$"
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "Settings":
        secret = self.token_secret.get_secret_value()
        if self.mode is Mode.PROD and (secret == DEV_TOKEN_SECRET or len(secret) < 32):
            msg = "CELLORG_TOKEN_SECRET must be set to at least 32 characters in prod mode"
            raise ValueError(msg)
        if self.mode is Mode.PROD and self.service_key.get_secret_value() == DEV_SERVICE_KEY:
            raise ValueError("CELLORG_SERVICE_KEY must be set to the service's own key in prod mode")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
