"""Errors of the billing database layer: each names what is wrong, and nothing was written.

All derive from `billing.errors.BillingError`, so callers (activities) can treat them as
business failures that a retry will not fix. Bad usage derives from the domain's
`InvalidUsageError`, bad amounts from `InvalidAmountError`.
"""

from __future__ import annotations

from billing.errors import BillingError, InvalidAmountError, InvalidUsageError


class BillingDataError(BillingError):
    """Base of the errors raised by `billing_db` on purpose."""


# --- lookups ---------------------------------------------------------------------------------


class NotFoundError(BillingDataError, LookupError):
    """A row that was referred to does not exist."""


class UnknownAccountError(NotFoundError):
    pass


class UnknownCustomerError(NotFoundError):
    pass


class UnknownPricingVersionError(NotFoundError):
    pass


class UnknownSubscriptionError(NotFoundError):
    pass


class UnknownInvoiceError(NotFoundError):
    pass


class UnknownWebhookEndpointError(NotFoundError):
    pass


class UnknownNotificationError(NotFoundError):
    pass


class MeterNotFoundError(NotFoundError):
    """A stored meter looked up by id (an unknown meter in a pricing is `UnknownMeterError`)."""


# --- idempotency keys reused for something else ----------------------------------------------


class ConflictError(BillingDataError):
    """An id or idempotency key already stands for different content."""


class AccountConflictError(ConflictError):
    pass


class AccountModeError(ConflictError):
    """An account of the other mode: test mode never touches live data, nor live test data."""


class CustomerConflictError(ConflictError):
    pass


class MeterConflictError(ConflictError):
    pass


class SubscriptionConflictError(ConflictError):
    pass


class InvoicePeriodConflictError(ConflictError):
    """The subscription already has an invoice starting at this period start, for another end."""


class PaymentIdReusedError(ConflictError):
    """A payment id already recorded with another invoice, amount or currency."""


class NotificationConflictError(ConflictError):
    """A dedupe key already claimed for another channel, event or target."""


# --- bad input -------------------------------------------------------------------------------


class InvalidUsageEventError(InvalidUsageError, BillingDataError):
    """One event of a batch cannot be recorded; `index` and `event_id` say which."""

    def __init__(self, message: str, *, index: int, event_id: str) -> None:
        super().__init__(f"events[{index}] (event_id {event_id!r}): {message}")
        self.index = index
        self.event_id = event_id


class UnpricedMeterError(InvalidUsageEventError):
    """The event's meter is not priced by the subscription's pricing version."""


class CurrencyMismatchError(BillingDataError, ValueError):
    """An amount in another currency than the invoice (or pricing) it belongs to."""


class InvalidPaymentAmountError(InvalidAmountError, BillingDataError):
    """A payment amount that is not positive or has more decimals than its currency."""


class InvalidRecordError(BillingDataError, ValueError):
    """A field of a record to write is not acceptable (the message names it)."""


# --- state -----------------------------------------------------------------------------------


class InvoiceNotPayableError(BillingDataError):
    """The invoice cannot take payments in its status (void, or a draft not yet approved)."""


class IllegalStatusTransitionError(BillingDataError):
    """An invoice or subscription status change that the transition table does not allow."""

    def __init__(self, message: str, *, current: str, requested: str) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested


class QuantityOverflowError(BillingDataError, ArithmeticError):
    """A SQL sum beyond what the database stores exactly (SQLite: 9.2e12 with 6 decimals)."""
