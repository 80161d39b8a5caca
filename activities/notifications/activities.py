"""The notification activities: ``send_email_notification`` and ``send_webhook_notification``.

Each recipient (the customer's mailbox, one webhook endpoint) has its own row in the notification
log, keyed by ``request.dedupe_key(channel, target)``. The row is claimed before sending and every
attempt is recorded, so a retried activity skips what was already delivered; a crash between
sending and recording re-sends with the same ``Message-ID`` / ``webhook-id`` so that the receiver
can recognise the repeat.

Failures:
* transient (SMTP 4xx or connection trouble; HTTP 5xx, 408, 429, timeouts, network errors): the
  attempt is logged, then a retryable ``ApplicationError`` lets Temporal's retry policy back off
  and call again;
* permanent (SMTP 5xx refusal of recipient or message; HTTP 4xx other than 408/429/410): logged
  as final and RETURNED as a ``failed_permanently`` outcome, so the activity completes and is not
  retried; HTTP 410 also disables the endpoint and returns ``disabled``;
* a request that names rows which do not exist or do not belong together: non-retryable
  ``ApplicationError`` (type ``NotificationMismatchError``, ``UnknownInvoiceError``, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import in_database_thread
from activities.notifications.email_delivery import send_email_message
from activities.notifications.identity import email_message_id, webhook_message_id
from activities.notifications.loading import NotificationSubject, load_subject
from activities.notifications.message import build_message
from activities.notifications.outcome import AttemptKind, AttemptResult
from activities.notifications.payload import webhook_body
from activities.notifications.rendering import render_email
from activities.notifications.settings import SmtpSettings
from activities.notifications.view import EmailContext
from activities.notifications.webhook_delivery import post_webhook
from billing.contracts.activities import SEND_EMAIL, SEND_WEBHOOKS
from billing.contracts.notifications import (
    Channel,
    NotificationOutcome,
    NotificationRequest,
    OutcomeStatus,
)
from billing.errors import BillingError
from billing_db.records import NotificationRecord, WebhookEndpointRecord
from billing_db.repo_catalog import list_webhook_endpoints, set_webhook_endpoint_enabled
from billing_db.repo_notifications import claim_notification, record_notification_attempt

_FINAL_STATUS: dict[AttemptKind, OutcomeStatus] = {
    AttemptKind.DELIVERED: "delivered",
    AttemptKind.PERMANENT: "failed_permanently",
    AttemptKind.GONE: "disabled",
}


def _settled(channel: Channel, target: str, record: NotificationRecord) -> NotificationOutcome:
    """The outcome of a notification an earlier attempt already finished."""
    if record.status == "delivered":
        return NotificationOutcome(
            channel=channel,
            target=target,
            status="skipped_already_delivered",
            message_id=record.message_id,
        )
    return NotificationOutcome(
        channel=channel, target=target, status="failed_permanently", error=record.last_error
    )


class NotificationActivities:
    """Holds the database engine, SMTP settings (with the password) and the HTTP client."""

    def __init__(
        self,
        *,
        engine: Engine,
        smtp: SmtpSettings,
        webhook_timeout_seconds: float,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if webhook_timeout_seconds <= 0:
            raise ValueError(f"webhook_timeout_seconds must be positive: {webhook_timeout_seconds}")
        self._engine = engine
        self._smtp = smtp
        self._webhook_timeout = webhook_timeout_seconds
        self._http_client = http_client

    # --- email ----------------------------------------------------------------------------------

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, request: NotificationRequest) -> list[NotificationOutcome]:
        """Email the customer's billing address; at most one delivery per dedupe key."""
        subject = await self._load(request)
        target = subject.customer.billing_email
        key = request.dedupe_key("email", target)
        record = await self._claim(request, key, "email", target)
        if not record.should_send:
            return [_settled("email", target, record)]
        message_id = email_message_id(key)
        rendered = render_email(
            EmailContext(
                event=request.event,
                brand=subject.account.name,
                customer_name=subject.customer.name,
                customer_email=target,
                livemode=request.livemode,
                subscription_id=request.subscription_id,
                invoice=subject.invoice,
                data=request.data,
            )
        )
        message = build_message(
            rendered,
            mail_from=self._smtp.mail_from,
            to_address=target,
            to_name=subject.customer.name,
            message_id=message_id,
            dedupe_key=key,
            date=record.created_at,
        )
        result = await send_email_message(message, smtp=self._smtp)
        outcome = await self._record(key, "email", target, result, message_id)
        if outcome is None:
            raise ApplicationError(
                f"email {request.event} to {target} not delivered yet: {result.error}",
                type="EmailNotDeliveredYet",
            )
        return [outcome]

    # --- webhooks -------------------------------------------------------------------------------

    @activity.defn(name=SEND_WEBHOOKS)
    async def send_webhooks(self, request: NotificationRequest) -> list[NotificationOutcome]:
        """POST to every enabled endpoint of the account; a retry skips those already done."""
        subject = await self._load(request)
        endpoints = await in_database_thread(
            self._engine, list_webhook_endpoints, self._engine, account_id=request.account_id
        )
        async with self._client() as client:
            results = await asyncio.gather(
                *(self._webhook(client, request, subject, endpoint) for endpoint in endpoints)
            )
        pending = [error for outcome, error in results if outcome is None]
        if pending:
            raise ApplicationError(
                f"{len(pending)} of {len(endpoints)} webhook endpoints not reached yet: "
                + "; ".join(pending),
                type="WebhookNotDeliveredYet",
            )
        return [outcome for outcome, _ in results if outcome is not None]

    async def _webhook(
        self,
        client: httpx.AsyncClient,
        request: NotificationRequest,
        subject: NotificationSubject,
        endpoint: WebhookEndpointRecord,
    ) -> tuple[NotificationOutcome | None, str]:
        key = request.dedupe_key("webhook", endpoint.id)
        record = await self._claim(request, key, "webhook", endpoint.id)
        if not record.should_send:
            return _settled("webhook", endpoint.id, record), ""
        msg_id = webhook_message_id(key)
        body = webhook_body(
            request, msg_id=msg_id, created_at=record.created_at, invoice=subject.invoice
        )
        result = await post_webhook(
            client,
            url=endpoint.url,
            secret=endpoint.secret,
            msg_id=msg_id,
            timestamp=int(time.time()),
            body=body,
            timeout_seconds=self._webhook_timeout,
        )
        outcome = await self._record(key, "webhook", endpoint.id, result, msg_id)
        if result.kind is AttemptKind.GONE:
            await in_database_thread(
                self._engine,
                set_webhook_endpoint_enabled,
                self._engine,
                endpoint_id=endpoint.id,
                enabled=False,
                reason=f"disabled after {result.detail}",
            )
        return outcome, f"{endpoint.id}: {result.error}"

    # --- shared ---------------------------------------------------------------------------------

    async def _load(self, request: NotificationRequest) -> NotificationSubject:
        try:
            return await in_database_thread(self._engine, load_subject, self._engine, request)
        except BillingError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc

    async def _claim(
        self, request: NotificationRequest, key: str, channel: Channel, target: str
    ) -> NotificationRecord:
        return await in_database_thread(
            self._engine,
            claim_notification,
            self._engine,
            dedupe_key=key,
            channel=channel,
            event=request.event,
            target=target,
        )

    async def _record(
        self, key: str, channel: Channel, target: str, result: AttemptResult, message_id: str
    ) -> NotificationOutcome | None:
        """Log the attempt; the final outcome, or None when a retry should try again."""
        delivered = result.kind is AttemptKind.DELIVERED
        await in_database_thread(
            self._engine,
            record_notification_attempt,
            self._engine,
            dedupe_key=key,
            delivered=delivered,
            error=result.error,
            message_id=message_id if delivered else None,
            disabled=result.kind in (AttemptKind.PERMANENT, AttemptKind.GONE),
        )
        activity.logger.info("%s to %s: %s %s", channel, target, result.kind, result.detail or "")
        status = _FINAL_STATUS.get(result.kind)
        if status is None:
            return None
        return NotificationOutcome(
            channel=channel,
            target=target,
            status=status,
            message_id=message_id,
            error=result.error,
        )

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http_client is not None:
            yield self._http_client
            return
        async with httpx.AsyncClient() as client:
            yield client
