"""Process settings, read once from the environment (and `.env`).

Only processes (worker, CLI, demo) read settings. Workflows never do, and activities receive
what they need through their constructors, so secrets such as the SMTP password never enter
workflow history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["test", "live"]

DEFAULT_DATA_DIR = Path(".data")


class Settings(BaseSettings):
    """Every knob of the service, one environment variable each."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Mode: the seed's pk_test_/pk_live_ promise. A pk_ key, when given, decides the mode.
    billing_api_key: SecretStr | None = Field(default=None, alias="BILLING_API_KEY")
    billing_mode: Mode = Field(default="test", alias="BILLING_MODE")
    # With BILLING_API_KEY: the `billing` CLI's data commands go to this `billing api` instead.
    billing_api_url: str | None = Field(default=None, alias="BILLING_API_URL")

    # Temporal
    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="billing", alias="TEMPORAL_TASK_QUEUE")
    temporal_api_key: SecretStr | None = Field(default=None, alias="TEMPORAL_API_KEY")
    temporal_tls: bool = Field(default=False, alias="TEMPORAL_TLS")

    # Billing database
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'billing.db'}", alias="DATABASE_URL"
    )

    # Email
    smtp_host: str = Field(default="localhost", alias="SMTP_HOST")
    smtp_port: int = Field(default=1025, alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=False, alias="SMTP_STARTTLS")
    smtp_use_tls: bool = Field(default=False, alias="SMTP_USE_TLS")
    smtp_timeout_seconds: float = Field(default=10.0, alias="SMTP_TIMEOUT_SECONDS")
    mail_from: str = Field(default="billing@platforma.example", alias="MAIL_FROM")

    # Webhooks
    webhook_timeout_seconds: float = Field(default=10.0, alias="WEBHOOK_TIMEOUT_SECONDS")

    # Worker operations
    metrics_port: int | None = Field(default=9464, alias="METRICS_PORT")
    worker_max_cached_workflows: int = Field(
        default=1000, ge=0, alias="WORKER_MAX_CACHED_WORKFLOWS"
    )
    """Workflows kept in memory between tasks. A subscription sleeps for a month: a smaller cache
    halves the worker's memory (1,000 subscriptions: 453 MB at 1000, 232 MB at 200) at the cost of
    replaying evicted histories when they wake (invoice day slowed from 7.5 to 4.7 invoices/s)."""
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    # API operations
    usage_nudge_interval_seconds: float = Field(
        default=1.0, gt=0, alias="USAGE_NUDGE_INTERVAL_SECONDS"
    )
    """Least time between two `usage_recorded` nudges of one subscription from one API process.
    Each nudge is a workflow task and a ledger count on the worker, so with many subscriptions
    receiving usage the nudges compete with the intake for the same cores: a longer interval
    trades how fresh `status` and threshold emails are for intake throughput (see README)."""

    @model_validator(mode="after")
    def _mode_follows_api_key(self) -> Settings:
        key = self.billing_api_key.get_secret_value() if self.billing_api_key else None
        if key is None:
            return self
        if key.startswith("pk_test_"):
            object.__setattr__(self, "billing_mode", "test")
        elif key.startswith("pk_live_"):
            object.__setattr__(self, "billing_mode", "live")
        else:
            raise ValueError("BILLING_API_KEY must start with pk_test_ or pk_live_")
        return self

    @property
    def livemode(self) -> bool:
        return self.billing_mode == "live"
