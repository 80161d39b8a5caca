"""The guide's four calls (meters, pricing, config, notifications), webhook endpoints and
customers: thin wrappers over `billing_service.services.catalog`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from billing import seed
from billing.catalog import Meter, Pricing
from billing_db import repo_catalog, repo_listing
from billing_db.errors import (
    MeterNotFoundError,
    UnknownCustomerError,
    UnknownPricingVersionError,
    UnknownWebhookEndpointError,
)
from billing_db.records import (
    AccountRecord,
    CustomerRecord,
    MeterRecord,
    PricingVersionRecord,
    WebhookEndpointRecord,
)
from billing_service.api.models import (
    ConfigOut,
    ConfigPatch,
    CustomerIn,
    CustomerOut,
    MeterOut,
    NotificationsOut,
    Page,
    PricingOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from billing_service.api.routes.common import (
    RESPONSES,
    CallerDep,
    Limit,
    StartingAfter,
    blocking,
    page_of,
)
from billing_service.services import catalog as services
from billing_service.services.subscriptions import owned_pricing_version

router = APIRouter(prefix="/v1/billing", responses=RESPONSES)


def _link(operation: str, parameter: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI link from a 201 to the operation that takes the new object's `id`."""
    target = {"operationId": operation, "parameters": {parameter: "$response.body#/id"}}
    return {201: {"description": "Created", "links": {operation: target}}}


def _meter(record: MeterRecord, livemode: bool) -> MeterOut:
    return MeterOut.model_validate(
        {**record.meter.model_dump(), "livemode": livemode, "created_at": record.created_at}
    )


def _pricing(record: PricingVersionRecord, livemode: bool) -> PricingOut:
    return PricingOut(
        id=record.id,
        product_id=record.product_id,
        version=record.version,
        currency=record.pricing.currency,
        components=record.pricing.model_dump(mode="json")["components"],
        livemode=livemode,
        created_at=record.created_at,
    )


def _config(account: AccountRecord, livemode: bool) -> ConfigOut:
    return ConfigOut.model_validate(
        {"account_id": account.id, "livemode": livemode, **account.billing.model_dump(mode="json")}
    )


def _customer(record: CustomerRecord, livemode: bool) -> CustomerOut:
    return CustomerOut(
        id=record.id,
        name=record.name,
        email=record.billing_email,
        timezone=record.time_zone,
        external_id=record.external_id,
        livemode=livemode,
        created_at=record.created_at,
    )


def _endpoint(
    record: WebhookEndpointRecord, livemode: bool, *, with_secret: bool = False
) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=record.id,
        url=record.url,
        enabled=record.enabled,
        livemode=livemode,
        created_at=record.created_at,
        secret=record.secret if with_secret else None,
    )


# --- meters ----------------------------------------------------------------------------------


@router.post("/meters", status_code=201, tags=["meters"], responses=_link("get_meter", "meter_id"))
async def create_meter(caller: CallerDep, meter: Meter) -> MeterOut:
    """`client.billing.meters.create(...)`: define a meter (immutable; the same one again is
    returned)."""
    record = await blocking(
        services.create_meter,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        document=meter.model_dump(mode="json"),
    )
    return _meter(record, caller.livemode)


@router.get("/meters", tags=["meters"])
async def list_meters(
    caller: CallerDep, limit: Limit = 10, starting_after: StartingAfter = None
) -> Page[MeterOut]:
    return await page_of(
        repo_listing.meters_page, _meter, caller, starting_after=starting_after, limit=limit
    )


@router.get("/meters/{meter_id}", tags=["meters"])
async def get_meter(caller: CallerDep, meter_id: str) -> MeterOut:
    record = await blocking(
        repo_listing.get_meter, caller.engine, account_id=caller.account_id, meter_id=meter_id
    )
    if record is None:
        raise MeterNotFoundError(f"meter_id: no meter {meter_id!r}")
    return _meter(record, caller.livemode)


# --- pricing ---------------------------------------------------------------------------------


@router.post(
    "/pricing", status_code=201, tags=["pricing"], responses=_link("get_pricing", "pricing_id")
)
async def create_pricing(caller: CallerDep, pricing: Pricing) -> PricingOut:
    """`client.billing.pricing.create(...)`: a usage component's `meter_id` is a meter's `id`.
    The same content again returns the existing version; other content is version n+1."""
    record = await blocking(
        services.create_pricing,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        document=pricing.model_dump(mode="json"),
    )
    return _pricing(record, caller.livemode)


@router.get("/pricing", tags=["pricing"])
async def list_pricing(
    caller: CallerDep, limit: Limit = 10, starting_after: int | None = None
) -> Page[PricingOut]:
    return await page_of(
        repo_listing.pricing_page, _pricing, caller, starting_after=starting_after, limit=limit
    )


@router.get("/pricing/{pricing_id}", tags=["pricing"])
async def get_pricing(caller: CallerDep, pricing_id: int) -> PricingOut:
    if not 1 <= pricing_id <= 2**62:
        raise UnknownPricingVersionError(f"pricing_id: no pricing {pricing_id}")
    record = await blocking(
        owned_pricing_version,
        caller.engine,
        account_id=caller.account_id,
        pricing_version_id=pricing_id,
    )
    return _pricing(record, caller.livemode)


# --- billing config --------------------------------------------------------------------------


@router.patch("/config", tags=["config"])
async def update_config(caller: CallerDep, changes: ConfigPatch) -> ConfigOut:
    """`client.billing.config.update(...)`: the fields given change, the others are kept."""
    account = await blocking(
        services.update_billing_config,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        changes=changes.model_dump(mode="json", exclude_unset=True, exclude_none=True),
    )
    return _config(account, caller.livemode)


@router.get("/config", tags=["config"])
async def get_config(caller: CallerDep) -> ConfigOut:
    account = await blocking(
        services.account, caller.engine, account_id=caller.account_id, mode=caller.mode
    )
    return _config(account, caller.livemode)


# --- notifications ---------------------------------------------------------------------------


def _notifications(account: AccountRecord, caller: CallerDep) -> NotificationsOut:
    endpoints = repo_catalog.list_webhook_endpoints(caller.engine, account_id=account.id)
    return NotificationsOut(
        account_id=account.id,
        livemode=caller.livemode,
        events=account.notifications.model_dump(mode="json"),
        webhook_endpoints=[endpoint.url for endpoint in endpoints],
    )


@router.put("/notifications", tags=["notifications"])
async def configure_notifications(
    caller: CallerDep,
    config: Annotated[dict[str, Any], Body(examples=[seed.NOTIFICATIONS])],
) -> NotificationsOut:
    """`client.billing.notifications.configure(...)`: channels per event (events not named keep
    theirs); accepted before any webhook endpoint exists."""
    account, _ = await blocking(
        services.configure_notifications,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        changes=config,
    )
    return await blocking(_notifications, account, caller)


@router.get("/notifications", tags=["notifications"])
async def get_notifications(caller: CallerDep) -> NotificationsOut:
    account = await blocking(
        services.account, caller.engine, account_id=caller.account_id, mode=caller.mode
    )
    return await blocking(_notifications, account, caller)


# --- webhook endpoints -----------------------------------------------------------------------


@router.post(
    "/webhook_endpoints",
    status_code=201,
    tags=["notifications"],
    responses=_link("delete_webhook_endpoint", "endpoint_id"),
)
async def create_webhook_endpoint(
    caller: CallerDep, endpoint: WebhookEndpointIn
) -> WebhookEndpointOut:
    """Register a receiver; its `whsec_` signing secret is in this answer only."""
    account = await blocking(
        services.account, caller.engine, account_id=caller.account_id, mode=caller.mode
    )
    record = await blocking(
        repo_catalog.create_webhook_endpoint,
        caller.engine,
        account_id=account.id,
        url=endpoint.url,
        secret=endpoint.secret,
    )
    return _endpoint(record, caller.livemode, with_secret=True)


@router.get("/webhook_endpoints", tags=["notifications"])
async def list_webhook_endpoints(caller: CallerDep) -> Page[WebhookEndpointOut]:
    records = await blocking(
        repo_catalog.list_webhook_endpoints, caller.engine, account_id=caller.account_id
    )
    return Page(data=[_endpoint(r, caller.livemode) for r in records], has_more=False)


@router.delete("/webhook_endpoints/{endpoint_id}", status_code=204, tags=["notifications"])
async def delete_webhook_endpoint(caller: CallerDep, endpoint_id: str) -> Response:
    records = await blocking(
        repo_catalog.list_webhook_endpoints, caller.engine, account_id=caller.account_id
    )
    if endpoint_id not in {record.id for record in records}:
        raise UnknownWebhookEndpointError(f"endpoint_id: no webhook endpoint {endpoint_id!r}")
    await blocking(
        repo_catalog.set_webhook_endpoint_enabled,
        caller.engine,
        endpoint_id=endpoint_id,
        enabled=False,
        reason="deleted through the API",
    )
    return Response(status_code=204)


# --- customers -------------------------------------------------------------------------------


@router.post(
    "/customers",
    status_code=201,
    tags=["customers"],
    responses=_link("get_customer", "customer_id"),
)
async def create_customer(caller: CallerDep, customer: CustomerIn) -> CustomerOut:
    """A customer (the same details again return it); the time zone defaults to the config's."""
    record = await blocking(
        services.create_customer,
        caller.engine,
        account_id=caller.account_id,
        mode=caller.mode,
        customer_id=customer.id,
        name=customer.name,
        email=customer.email,
        timezone=customer.timezone,
        external_id=customer.external_id,
    )
    return _customer(record, caller.livemode)


@router.get("/customers", tags=["customers"])
async def list_customers(
    caller: CallerDep, limit: Limit = 10, starting_after: StartingAfter = None
) -> Page[CustomerOut]:
    return await page_of(
        repo_listing.customers_page, _customer, caller, starting_after=starting_after, limit=limit
    )


@router.get("/customers/{customer_id}", tags=["customers"])
async def get_customer(caller: CallerDep, customer_id: str) -> CustomerOut:
    def find() -> CustomerRecord:
        record = repo_catalog.get_customer(caller.engine, customer_id=customer_id)
        if record.account_id != caller.account_id:
            raise UnknownCustomerError(f"customer_id: no customer {customer_id!r}")
        return record

    return _customer(await blocking(find), caller.livemode)
