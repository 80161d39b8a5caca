"""Invoices: read from the mode's database; payments, voids and approvals go to the workflows."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from billing.contracts.invoice import VoidRequest
from billing_db import repo_listing
from billing_db.records import InvoiceRecord
from billing_service import client as billing
from billing_service.api.context import Caller
from billing_service.api.models import (
    Accepted,
    InvoiceOut,
    Page,
    PaymentIn,
    PaymentResultOut,
    VoidIn,
)
from billing_service.api.routes.common import (
    RESPONSES,
    CallerDep,
    Limit,
    StartingAfter,
    blocking,
)
from billing_service.services import invoices as services

router = APIRouter(prefix="/v1/billing/invoices", responses=RESPONSES, tags=["invoices"])
Status = Literal["draft", "open", "paid", "overdue", "void", "uncollectible"]


def invoice_out(record: InvoiceRecord) -> InvoiceOut:
    """The invoice with amounts to the currency's minor unit (the database keeps 6 places)."""
    return InvoiceOut.model_validate({**services.rounded(record).model_dump(), "id": record.number})


async def _find(caller: Caller, number: str) -> InvoiceRecord:
    return await blocking(
        services.find_invoice,
        caller.engine,
        number=number,
        mode=caller.mode,
        account_id=caller.account_id,
    )


@router.get("")
async def list_invoices(
    caller: CallerDep,
    subscription_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Status | None = None,
    limit: Limit = 10,
    starting_after: StartingAfter = None,
) -> Page[InvoiceOut]:
    """The account's invoices in this mode, in issue order."""
    records, more = await blocking(
        repo_listing.invoices_page,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        subscription_id=subscription_id,
        statuses=[status] if status else None,
        starting_after=starting_after,
        limit=limit,
    )
    return Page(data=[invoice_out(r) for r in records], has_more=more)


@router.get("/{number}")
async def get_invoice(caller: CallerDep, number: str) -> InvoiceOut:
    """One invoice with its lines (tiers), payments and status history (dunning steps)."""
    return invoice_out(await _find(caller, number))


@router.post("/{number}/payments")
async def pay_invoice(caller: CallerDep, number: str, request: PaymentIn) -> PaymentResultOut:
    """The invoice workflow's `submit_payment` update; `payment_id` again changes nothing."""
    record = await _find(caller, number)
    payment = services.payment_for(
        record, amount=request.amount, payment_id=request.payment_id, currency=request.currency
    )
    result = await services.pay(await caller.client(), number, payment)
    return PaymentResultOut.model_validate(
        {"invoice_number": number, "livemode": caller.livemode, **result.model_dump()}
    )


@router.post("/{number}/void", status_code=202)
async def void_invoice(caller: CallerDep, number: str, request: VoidIn) -> Accepted:
    """Void an unpaid invoice: its workflow records it and stops escalating."""
    record = await _find(caller, number)
    services.check_voidable(record)
    await services.void(await caller.client(), number, VoidRequest(reason=request.reason))
    return Accepted(id=number, livemode=caller.livemode, requested="void")


@router.post("/{number}/approve", status_code=202)
async def approve_invoice(caller: CallerDep, number: str) -> Accepted:
    """Issue a draft (billing config `auto_generate_invoices: false`)."""
    record = await _find(caller, number)
    services.check_approvable(record)
    await billing.approve_invoice(await caller.client(), record.subscription_id, number)
    return Accepted(id=number, livemode=caller.livemode, requested="approve")
