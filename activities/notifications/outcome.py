"""What one delivery attempt came to, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AttemptKind(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"  # retry later: connection trouble, 5xx, 408, 429, SMTP 4xx
    PERMANENT = "permanent"  # retrying cannot help: HTTP 4xx, SMTP 5xx on the recipient or data
    GONE = "gone"  # HTTP 410: the receiver asks us to stop; the endpoint gets disabled


@dataclass(frozen=True)
class AttemptResult:
    kind: AttemptKind
    detail: str | None = None

    @property
    def error(self) -> str | None:
        return None if self.kind is AttemptKind.DELIVERED else self.detail
