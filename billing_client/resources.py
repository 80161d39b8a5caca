"""The resource tree, one route per operation of `contract/openapi.json`, typed with the API's
own pydantic models (`billing_service.api.models`)."""

from __future__ import annotations

from billing.contracts.subscription import MAX_EVENTS_PER_BATCH
from billing.invoice import RatedInvoice
from billing_client._ops import ListOp, Op, RecordUsageOp, Resource, Transport
from billing_service.api.models import (
    Accepted,
    ConfigOut,
    CustomerOut,
    InvoiceOut,
    MeterOut,
    NotificationsOut,
    PaymentResultOut,
    PricingOut,
    SubscriptionOut,
    SubscriptionStarted,
    SubscriptionSummary,
    WebhookEndpointOut,
)


class Meters(Resource[Transport]):
    create = Op("POST", "/meters", MeterOut)
    retrieve = Op("GET", "/meters/{}", MeterOut)
    list = ListOp("/meters", MeterOut)


class Pricing(Resource[Transport]):
    create = Op("POST", "/pricing", PricingOut)
    retrieve = Op("GET", "/pricing/{}", PricingOut)
    list = ListOp("/pricing", PricingOut)


class Config(Resource[Transport]):
    retrieve = Op("GET", "/config", ConfigOut)
    #: Fields given change; omitted ones are kept.
    update = Op("PATCH", "/config", ConfigOut)


class Notifications(Resource[Transport]):
    retrieve = Op("GET", "/notifications", NotificationsOut)
    #: Replaces the whole notification set-up.
    configure = Op("PUT", "/notifications", NotificationsOut)


class WebhookEndpoints(Resource[Transport]):
    #: The answer carries the `whsec_` signing secret, shown this once.
    create = Op("POST", "/webhook_endpoints", WebhookEndpointOut)
    list = ListOp("/webhook_endpoints", WebhookEndpointOut)
    delete = Op("DELETE", "/webhook_endpoints/{}", type(None))


class Customers(Resource[Transport]):
    create = Op("POST", "/customers", CustomerOut)
    retrieve = Op("GET", "/customers/{}", CustomerOut)
    list = ListOp("/customers", CustomerOut)


class Subscriptions(Resource[Transport]):
    #: Starts the subscription's workflow; an existing id is a 409 `ConflictError`.
    create = Op("POST", "/subscriptions", SubscriptionStarted)
    #: The workflow's live `status` query.
    retrieve = Op("GET", "/subscriptions/{}", SubscriptionOut)
    list = ListOp("/subscriptions", SubscriptionSummary)
    upcoming_invoice = Op("GET", "/subscriptions/{}/upcoming_invoice", RatedInvoice)
    cancel = Op("POST", "/subscriptions/{}/cancel", Accepted)
    change_plan = Op("POST", "/subscriptions/{}/change_plan", Accepted)


class Usage(Resource[Transport]):
    record = RecordUsageOp(MAX_EVENTS_PER_BATCH)


class Invoices(Resource[Transport]):
    retrieve = Op("GET", "/invoices/{}", InvoiceOut)
    list = ListOp("/invoices", InvoiceOut)
    pay = Op("POST", "/invoices/{}/payments", PaymentResultOut)
    void = Op("POST", "/invoices/{}/void", Accepted)
    approve = Op("POST", "/invoices/{}/approve", Accepted)


class Tree(Resource[Transport]):
    """Every resource; `client.billing` is the client itself, as in the guide."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.meters: Meters[Transport] = Meters(transport)
        self.pricing: Pricing[Transport] = Pricing(transport)
        self.config: Config[Transport] = Config(transport)
        self.notifications: Notifications[Transport] = Notifications(transport)
        self.webhook_endpoints: WebhookEndpoints[Transport] = WebhookEndpoints(transport)
        self.customers: Customers[Transport] = Customers(transport)
        self.subscriptions: Subscriptions[Transport] = Subscriptions(transport)
        self.usage: Usage[Transport] = Usage(transport)
        self.invoices: Invoices[Transport] = Invoices(transport)

    @property
    def billing(self) -> Tree[Transport]:
        return self
