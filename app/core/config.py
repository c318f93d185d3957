"""Settings: one pydantic-settings class, read when the app is created."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "careplan-development-secret-key-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///./careplan.db", alias="DATABASE_URL")
    secret_key: str = Field(default=DEVELOPMENT_SECRET_KEY, alias="CAREPLAN_SECRET_KEY")
    environment: Literal["development", "test", "production"] = Field(
        default="development", alias="CAREPLAN_ENV"
    )
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60, alias="CAREPLAN_TOKEN_MINUTES")
    db_pool_size: int = Field(default=20, ge=1, le=500, alias="CAREPLAN_DB_POOL_SIZE")
    db_echo: bool = Field(default=False, alias="CAREPLAN_DB_ECHO")
    log_level: str = Field(default="INFO", alias="CAREPLAN_LOG_LEVEL")
    access_log: bool = Field(default=True, alias="CAREPLAN_ACCESS_LOG")
    # argon2 cost parameters (RFC 9106 "second recommended option" by default)
    argon2_time_cost: int = Field(default=3, ge=1, alias="CAREPLAN_ARGON2_TIME_COST")
    argon2_memory_kib: int = Field(default=65536, ge=8, alias="CAREPLAN_ARGON2_MEMORY_KIB")
    clinic_name: str = Field(default="Careplan Clinic", alias="CAREPLAN_CLINIC_NAME")
    # events and webhooks
    event_retention_days: int = Field(
        default=90, ge=1, le=3650, alias="CAREPLAN_EVENT_RETENTION_DAYS"
    )
    webhook_allow_private: bool | None = Field(default=None, alias="CAREPLAN_WEBHOOK_ALLOW_PRIVATE")
    delivery_worker: bool = Field(default=True, alias="CAREPLAN_DELIVERY_WORKER")
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, alias="CAREPLAN_WEBHOOK_TIMEOUT_SECONDS"
    )
    webhook_lease_seconds: float = Field(
        default=60.0, gt=0, le=3600, alias="CAREPLAN_WEBHOOK_LEASE_SECONDS"
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, le=3600, alias="CAREPLAN_WEBHOOK_RETRY_BASE_SECONDS"
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, alias="CAREPLAN_WEBHOOK_POLL_SECONDS"
    )

    @property
    def allows_private_webhooks(self) -> bool:
        """Webhook URLs on loopback, private or link-local addresses (and plain http): allowed
        in development and test unless switched off, refused in production unless switched on."""
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return self.environment != "production"
    cors_origins_setting: str = Field(default="", alias="CAREPLAN_CORS_ORIGINS")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError("CAREPLAN_SECRET_KEY must be set when CAREPLAN_ENV=production")
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("CAREPLAN_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def cors_origins(self) -> list[str]:
        """The browser origins allowed to call the API (comma-separated); none by default."""
        return [o.strip().rstrip("/") for o in self.cors_origins_setting.split(",") if o.strip()]
