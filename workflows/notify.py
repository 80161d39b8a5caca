"""Send one billing event through the channels the subscription's notification config selects."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from billing.catalog import NotificationConfig
    from billing.contracts.notifications import NotificationRequest, channels_for_event
    from workflows.calls import SEND_EMAIL, SEND_WEBHOOKS

_ACTIVITY = {"email": SEND_EMAIL, "webhook": SEND_WEBHOOKS}


async def notify(
    config: NotificationConfig, request: NotificationRequest, *, local: bool = False
) -> None:
    """Email and/or webhook, concurrently. A channel that still fails after a day of retries is
    logged, not raised: the billing step it reports on has already happened.

    `local`: as local activities, inside the workflow task (no activity task through the server
    and no workflow task to hear of the result; see workflows/calls.py for their retries)."""
    channels = channels_for_event(config, request.event)
    if not channels:
        return
    calls = [
        (_ACTIVITY[channel].locally() if local else _ACTIVITY[channel])(
            request, summary=f"{channel}: {request.event} ({request.scope})"
        )
        for channel in channels
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for channel, result in zip(channels, results, strict=True):
        if isinstance(result, ActivityError):
            workflow.logger.warning(
                "%s notification %s for %s failed: %s",
                channel,
                request.event,
                request.scope,
                result.cause or result,
            )
        elif isinstance(result, BaseException):
            raise result
