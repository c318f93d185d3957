"""Settings: one pydantic-settings class, read when the app is created."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.context import parse_trusted_proxies

SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_FILE_NAME = "careplan.secret-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///./careplan.db", alias="DATABASE_URL")
    # None: the key comes from the key file (app/core/secret_key.py), generated on first start
    # outside production
    secret_key: str | None = Field(default=None, alias="CAREPLAN_SECRET_KEY")
    secret_key_file: Path | None = Field(default=None, alias="CAREPLAN_SECRET_KEY_FILE")
    # proxies whose X-Forwarded-For is believed (IP addresses or CIDR networks, comma-separated)
    trusted_proxies: str = Field(default="", alias="CAREPLAN_TRUSTED_PROXIES")
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

    @field_validator("secret_key")
    @classmethod
    def _no_blank_secret(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("CAREPLAN_SECRET_KEY is empty: set a key or leave it unset")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @model_validator(mode="after")
    def _production_needs_a_key(self) -> Settings:
        if self.environment != "production":
            return self
        if self.secret_key is None and self.secret_key_file is None:
            raise ValueError(
                "CAREPLAN_ENV=production needs CAREPLAN_SECRET_KEY, or CAREPLAN_SECRET_KEY_FILE "
                "naming an existing key file"
            )
        if self.secret_key is not None and len(self.secret_key) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"CAREPLAN_SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} characters in "
                "production"
            )
        return self

    @property
    def cors_origins(self) -> list[str]:
        """The browser origins allowed to call the API (comma-separated); none by default."""
        return [o.strip().rstrip("/") for o in self.cors_origins_setting.split(",") if o.strip()]

    def secret_key_path(self) -> Path:
        """Where the signing key is kept when CAREPLAN_SECRET_KEY is not set: the
        CAREPLAN_SECRET_KEY_FILE, or a file beside the SQLite database, or in the working
        folder with PostgreSQL."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            return Path(SECRET_KEY_FILE_NAME)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            db_path = Path(database)
            return db_path.with_name(f"{db_path.name}.secret-key")
        return Path(SECRET_KEY_FILE_NAME)
