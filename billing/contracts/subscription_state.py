"""The SubscriptionWorkflow's whole state: one model, carried whole through continue-as-new.

Internal, not part of the published contract (no schema under `contract/`): message handlers
record what was asked in it, and the workflow's main loop alone acts on it. Mutable on purpose:
there is one instance per run and every writer changes it in place, so no stale copy taken
before an `await` can overwrite what a handler recorded meanwhile.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.contracts.invoice import ForwardedPayment
from billing.contracts.subscription import (
    CancelRequest,
    PlanChange,
    RejectedEvent,
    SubscriptionPlan,
    UsageEvent,
)
from billing.lifecycle import Standing, SubscriptionStatus
from billing.periods import Period, UtcDatetime
from billing.running import MeterUsage


class PeriodUsage(BaseModel):
    """Running usage of a later period, accepted while an earlier one is still being invoiced."""

    model_config = ConfigDict(extra="forbid")

    period: Period
    usage: dict[str, MeterUsage] = Field(default_factory=dict)


class SubscriptionState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: SubscriptionPlan
    status: SubscriptionStatus
    stored_status: SubscriptionStatus
    """The status the database holds; the main loop writes `status` when they differ."""
    status_reason: str | None = None
    period: Period
    closing_at: UtcDatetime | None = None
    """While the period is being invoiced: the instant it closes at."""
    usage: dict[str, MeterUsage] = Field(default_factory=dict)
    ahead: list[PeriodUsage] = Field(default_factory=list)
    late_events: int = 0
    ledger_row_id: int | None = None
    """The highest usage row id counted in the running usage; None for a run of older code,
    which counted its own events only (the next count replaces its running usage)."""
    ledger_nudged_row_id: int = 0
    """The highest usage row id the ledger is known to hold (`usage_recorded` signals)."""
    thresholds_notified: dict[str, list[int]] = Field(default_factory=dict)
    rejected: list[RejectedEvent] = Field(default_factory=list)
    open_invoices: list[str] = Field(default_factory=list)
    overdue_invoices: dict[str, Standing] = Field(default_factory=dict)
    drafts_awaiting_approval: list[str] = Field(default_factory=list)
    approvals: list[str] = Field(default_factory=list)
    """Drafts approved by a message, not yet approved in the database."""
    payments: list[ForwardedPayment] = Field(default_factory=list)
    """Payments sent to the subscription, not yet forwarded to their invoice."""
    cancel: CancelRequest | None = None
    cancel_requested_at: UtcDatetime | None = None
    plan_change: PlanChange | None = None
    plan_change_requested_at: UtcDatetime | None = None
    """When each was received: it takes effect at the first close from then on."""
    unpersisted_events: list[UsageEvent] = Field(default_factory=list)
    run: int = 1

    @model_validator(mode="before")
    @classmethod
    def _from_older_runs(cls, data: Any) -> Any:
        """A run started by older code carried no `stored_status`: it had written its status."""
        if isinstance(data, dict) and "stored_status" not in data and "status" in data:
            return {**data, "stored_status": data["status"]}
        return data

    @property
    def status_unsaved(self) -> bool:
        return self.status != self.stored_status

    @property
    def ledger_uncounted(self) -> bool:
        """The ledger holds rows the running usage has not counted yet."""
        return self.ledger_row_id is None or self.ledger_nudged_row_id > self.ledger_row_id

    @property
    def canceled(self) -> bool:
        return self.status == "canceled"
