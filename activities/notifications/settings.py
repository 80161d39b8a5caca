"""SMTP settings the worker builds from the process settings; kept on the activity instance only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail. The password stays here, never in a payload or in history."""

    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.starttls and self.use_tls:
            raise ValueError("SmtpSettings: choose starttls or use_tls, not both")
        if not 0 < self.port < 65536:
            raise ValueError(f"SmtpSettings.port out of range: {self.port}")
        if self.timeout <= 0:
            raise ValueError(f"SmtpSettings.timeout must be positive: {self.timeout}")
