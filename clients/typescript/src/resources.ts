/**
 * The resource tree, one class per resource, one method per route of `contract/openapi.json`
 * (`create`, `retrieve`, `list`, `update`, and the few actions a resource has).
 */

import type { Http, RequestOptions } from "./http.js";
import { PageList, type ListParams } from "./pagination.js";
import type {
  Accepted,
  CancelIn,
  ConfigOut,
  ConfigPatch,
  CustomerIn,
  CustomerOut,
  InvoiceOut,
  Meter,
  MeterOut,
  NotificationsOut,
  PaymentIn,
  PaymentResultOut,
  PlanChangeIn,
  Pricing,
  PricingOut,
  RatedInvoice,
  SubscriptionIn,
  SubscriptionOut,
  SubscriptionStarted,
  SubscriptionSummary,
  UsageEvent,
  UsageIn,
  UsageOut,
  VoidIn,
  WebhookEndpointIn,
  WebhookEndpointOut,
} from "./types.js";

/** Per-call options: an explicit `idempotencyKey` for a POST. */
export type CallOptions = Pick<RequestOptions, "idempotencyKey">;

const enc = encodeURIComponent;

abstract class Resource {
  constructor(protected readonly http: Http) {}
}

export class Meters extends Resource {
  create(params: Meter, options?: CallOptions): Promise<MeterOut> {
    return this.http.request("POST", "/meters", { ...options, body: params });
  }
  retrieve(id: string): Promise<MeterOut> {
    return this.http.request("GET", `/meters/${enc(id)}`);
  }
  list(params: ListParams = {}): PageList<MeterOut> {
    return new PageList(this.http, "/meters", { ...params });
  }
}

export class PricingResource extends Resource {
  create(params: Pricing, options?: CallOptions): Promise<PricingOut> {
    return this.http.request("POST", "/pricing", { ...options, body: params });
  }
  retrieve(id: number): Promise<PricingOut> {
    return this.http.request("GET", `/pricing/${enc(String(id))}`);
  }
  list(params: ListParams = {}): PageList<PricingOut> {
    return new PageList(this.http, "/pricing", { ...params });
  }
}

export class Config extends Resource {
  retrieve(): Promise<ConfigOut> {
    return this.http.request("GET", "/config");
  }
  /** Fields given change; omitted ones are kept. */
  update(params: ConfigPatch): Promise<ConfigOut> {
    return this.http.request("PATCH", "/config", { body: params });
  }
}

/** One notification event's channels, as in the guide. */
export interface NotificationChannels {
  email?: boolean;
  webhook?: boolean;
  thresholds?: number[];
  [extra: string]: unknown;
}

export class Notifications extends Resource {
  retrieve(): Promise<NotificationsOut> {
    return this.http.request("GET", "/notifications");
  }
  /** Replaces the whole notification set-up. */
  configure(params: Record<string, NotificationChannels>): Promise<NotificationsOut> {
    return this.http.request("PUT", "/notifications", { body: params });
  }
}

export class WebhookEndpoints extends Resource {
  /** The answer carries the `whsec_` signing secret, shown this once. */
  create(params: WebhookEndpointIn, options?: CallOptions): Promise<WebhookEndpointOut> {
    return this.http.request("POST", "/webhook_endpoints", { ...options, body: params });
  }
  list(): PageList<WebhookEndpointOut> {
    return new PageList(this.http, "/webhook_endpoints", {});
  }
  del(id: string): Promise<void> {
    return this.http.request("DELETE", `/webhook_endpoints/${enc(id)}`);
  }
}

export class Customers extends Resource {
  create(params: CustomerIn, options?: CallOptions): Promise<CustomerOut> {
    return this.http.request("POST", "/customers", { ...options, body: params });
  }
  retrieve(id: string): Promise<CustomerOut> {
    return this.http.request("GET", `/customers/${enc(id)}`);
  }
  list(params: ListParams = {}): PageList<CustomerOut> {
    return new PageList(this.http, "/customers", { ...params });
  }
}

export class Subscriptions extends Resource {
  /** Starts the subscription's workflow; an existing id is a 409 `ConflictError`. */
  create(params: SubscriptionIn, options?: CallOptions): Promise<SubscriptionStarted> {
    return this.http.request("POST", "/subscriptions", { ...options, body: params });
  }
  /** The workflow's live `status` query. */
  retrieve(id: string): Promise<SubscriptionOut> {
    return this.http.request("GET", `/subscriptions/${enc(id)}`);
  }
  list(params: ListParams = {}): PageList<SubscriptionSummary> {
    return new PageList(this.http, "/subscriptions", { ...params });
  }
  upcomingInvoice(id: string): Promise<RatedInvoice> {
    return this.http.request("GET", `/subscriptions/${enc(id)}/upcoming_invoice`);
  }
  cancel(id: string, params: CancelIn = {}, options?: CallOptions): Promise<Accepted> {
    return this.http.request("POST", `/subscriptions/${enc(id)}/cancel`, { ...options, body: params });
  }
  changePlan(id: string, params: PlanChangeIn, options?: CallOptions): Promise<Accepted> {
    const path = `/subscriptions/${enc(id)}/change_plan`;
    return this.http.request("POST", path, { ...options, body: params });
  }
}

/** The API takes at most this many events per request. */
export const USAGE_BATCH = 1000;

function add(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null ? null : a + b;
}

function sum(total: UsageOut, answer: UsageOut): UsageOut {
  return {
    ...answer,
    events: total.events + answer.events,
    new: add(total.new, answer.new),
    duplicates: add(total.duplicates, answer.duplicates),
  };
}

export class Usage extends Resource {
  /**
   * Records any number of events, sent in batches of at most 1,000 (each its own request and
   * idempotency key, so a retried batch counts once). Events are de-duplicated by `event_id`.
   * `acknowledged: true` waits for the workflow and totals its `new` and `duplicates`.
   */
  async record(params: UsageIn): Promise<UsageOut> {
    const events: UsageEvent[] = params.events;
    const flag = params.acknowledged ? { acknowledged: true } : {};
    let total: UsageOut | undefined;
    for (let start = 0; start < events.length || total === undefined; start += USAGE_BATCH) {
      const batch = events.slice(start, start + USAGE_BATCH);
      const body = { subscription_id: params.subscription_id, events: batch, ...flag };
      const answer = await this.http.request<UsageOut>("POST", "/usage/events", { body });
      total = total === undefined ? answer : sum(total, answer);
    }
    return total;
  }
}

export interface InvoiceListParams extends ListParams {
  subscription_id?: string;
  status?: "draft" | "open" | "paid" | "overdue" | "void" | "uncollectible";
}

export class Invoices extends Resource {
  retrieve(number: string): Promise<InvoiceOut> {
    return this.http.request("GET", `/invoices/${enc(number)}`);
  }
  list(params: InvoiceListParams = {}): PageList<InvoiceOut> {
    return new PageList(this.http, "/invoices", { ...params });
  }
  pay(number: string, params: PaymentIn, options?: CallOptions): Promise<PaymentResultOut> {
    return this.http.request("POST", `/invoices/${enc(number)}/payments`, { ...options, body: params });
  }
  void(number: string, params: VoidIn, options?: CallOptions): Promise<Accepted> {
    return this.http.request("POST", `/invoices/${enc(number)}/void`, { ...options, body: params });
  }
  approve(number: string, options?: CallOptions): Promise<Accepted> {
    return this.http.request("POST", `/invoices/${enc(number)}/approve`, { ...options });
  }
}
