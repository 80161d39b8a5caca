"""Read what a notification needs from the billing database; check it belongs together."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from activities.notifications.documents import document_from_record
from activities.notifications.view import InvoiceDocument
from billing.contracts.notifications import NotificationRequest
from billing.errors import BillingError
from billing_db.records import AccountRecord, CustomerRecord
from billing_db.repo_catalog import get_account, get_customer
from billing_db.repo_invoices import get_invoice


class NotificationMismatchError(BillingError):
    """The request names rows that do not belong together (another account, the other mode)."""


@dataclass(frozen=True)
class NotificationSubject:
    account: AccountRecord
    customer: CustomerRecord
    invoice: InvoiceDocument | None


def load_subject(engine: Engine, request: NotificationRequest) -> NotificationSubject:
    """The account, customer and (if named) invoice of ``request``; a mismatch is an error.

    Test mode must never reach live data: the request's ``livemode`` must be the account's and
    the invoice's mode.
    """
    account = get_account(engine, account_id=request.account_id)
    if account.livemode != request.livemode:
        raise NotificationMismatchError(
            f"livemode: the request says {request.livemode} but account {account.id!r} is in "
            f"{account.mode} mode"
        )
    customer = get_customer(engine, customer_id=request.customer_id)
    if customer.account_id != account.id:
        raise NotificationMismatchError(
            f"customer_id: {customer.id!r} belongs to account {customer.account_id!r}, "
            f"not {account.id!r}"
        )
    invoice: InvoiceDocument | None = None
    if request.invoice_number is not None:
        record = get_invoice(engine, invoice_number=request.invoice_number)
        if record.account_id != account.id or record.customer_id != customer.id:
            raise NotificationMismatchError(
                f"invoice_number: {record.number} belongs to customer {record.customer_id!r} of "
                f"account {record.account_id!r}, not {customer.id!r} of {account.id!r}"
            )
        if record.livemode != request.livemode:
            raise NotificationMismatchError(
                f"livemode: invoice {record.number} is a {record.mode}-mode invoice"
            )
        invoice = document_from_record(record, time_zone=customer.time_zone)
    return NotificationSubject(account=account, customer=customer, invoice=invoice)
