/**
 * The temporal-billing client. The guide's code runs as written:
 *
 *   const client = new Billing({ apiKey: "pk_test_...", baseUrl: "http://localhost:8000" });
 *   const meter = await client.billing.meters.create({ name: "bandwidth_egress", ... });
 *
 * `client.billing` is the client itself, so `billing.meters` and `client.billing.meters` are the
 * same object: the guide's spelling and the short one both work.
 */

import { Http } from "./http.js";
import {
  Config,
  Customers,
  Invoices,
  Meters,
  Notifications,
  PricingResource,
  Subscriptions,
  Usage,
  WebhookEndpoints,
} from "./resources.js";

export interface BillingOptions {
  /** A `pk_test_` or `pk_live_` key; the key alone decides account and mode. */
  apiKey: string;
  /** The API's root, e.g. `http://localhost:8000` (a trailing `/v1/billing` is accepted too). */
  baseUrl?: string;
  /** Retries after the first attempt (network errors, 409 in flight, 429, 5xx). Default 3. */
  maxRetries?: number;
  /** Per attempt. Default 30 s. */
  timeoutMs?: number;
  /** Another `fetch` (tests, proxies). Default the global one (Node ≥ 18). */
  fetch?: typeof fetch;
}

export class Billing {
  readonly meters: Meters;
  readonly pricing: PricingResource;
  readonly config: Config;
  readonly notifications: Notifications;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly customers: Customers;
  readonly subscriptions: Subscriptions;
  readonly usage: Usage;
  readonly invoices: Invoices;

  constructor(options: BillingOptions) {
    if (!options.apiKey) throw new TypeError("Billing: apiKey is required");
    const http = new Http({
      apiKey: options.apiKey,
      baseUrl: options.baseUrl ?? "http://localhost:8000",
      maxRetries: options.maxRetries ?? 3,
      timeoutMs: options.timeoutMs ?? 30_000,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    });
    this.meters = new Meters(http);
    this.pricing = new PricingResource(http);
    this.config = new Config(http);
    this.notifications = new Notifications(http);
    this.webhookEndpoints = new WebhookEndpoints(http);
    this.customers = new Customers(http);
    this.subscriptions = new Subscriptions(http);
    this.usage = new Usage(http);
    this.invoices = new Invoices(http);
  }

  /** The guide's `client.billing.*`: the same resources. */
  get billing(): this {
    return this;
  }
}

export default Billing;
export * from "./errors.js";
export type { Page, ListParams } from "./pagination.js";
export { PageList } from "./pagination.js";
export type { CallOptions, InvoiceListParams, NotificationChannels } from "./resources.js";
export { USAGE_BATCH } from "./resources.js";
export type * from "./types.js";
