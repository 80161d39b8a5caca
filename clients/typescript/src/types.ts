// Generated from contract/openapi.json by `uv run python -m scripts.export_ts_types`.
// Do not edit: a test fails when this file is stale.

export interface Accepted {
  id: string;
  livemode: boolean;
  requested: string;
}

export interface CancelIn {
  at_period_end?: boolean;
  reason?: string | null;
}

export interface ConfigOut {
  account_id: string;
  auto_generate_invoices: boolean;
  currency: string;
  dunning: Record<string, unknown>;
  invoice_day: number;
  livemode: boolean;
  payment_terms_days: number;
  tax_rate: string;
  timezone: string;
}

/**
 * The guide's five fields, the time zone and the dunning ladder; omitted ones are kept.
 */
export interface ConfigPatch {
  auto_generate_invoices?: boolean | null;
  currency?: string | null;
  dunning?: Record<string, unknown> | null;
  invoice_day?: number | null;
  payment_terms_days?: number | null;
  tax_rate?: string | number | null;
  timezone?: string | null;
}

export interface CustomerIn {
  email: string;
  external_id?: string | null;
  id: string;
  name: string;
  timezone?: string | null;
}

export interface CustomerOut {
  created_at: string;
  email: string;
  external_id: string;
  id: string;
  livemode: boolean;
  name: string;
  timezone: string;
}

/**
 * One rounded line of an invoice.
 */
export interface InvoiceLine {
  amount: string;
  description: string;
  kind: "recurring" | "usage" | "late_usage" | "adjustment";
  meter_id?: string | null;
  period_end?: string | null;
  period_start?: string | null;
  quantity: string;
  tiers?: Array<TierCharge>;
  unit?: string | null;
}

export interface InvoiceLineOut {
  amount: string;
  description: string;
  kind: string;
  meter_id: string | null;
  period_end: string | null;
  period_start: string | null;
  quantity: string;
  tiers: Array<Record<string, unknown>>;
  unit: string | null;
}

export interface InvoiceOut {
  amount_due: string;
  amount_paid: string;
  created_at: string;
  credit_applied: string;
  currency: string;
  customer_id: string;
  due_at: string | null;
  history: Array<StatusChangeOut>;
  id: string;
  issued_at: string | null;
  lines: Array<InvoiceLineOut>;
  livemode: boolean;
  number: string;
  paid_at: string | null;
  payment_terms_days: number;
  payments: Array<PaymentOut>;
  period: Period;
  status: string;
  subscription_id: string;
  subtotal: string;
  tax: string;
  tax_rate: string;
  total: string;
}

/**
 * What is measured and how a period's events become one quantity.
 */
export interface Meter {
  aggregation: "sum" | "count" | "max" | "unique_count" | "latest";
  field_name?: string | null;
  id?: string;
  name: string;
  reset_cycle?: "monthly" | "weekly" | "quarterly" | "yearly" | "never";
  unit: string;
}

export interface MeterOut {
  aggregation: "sum" | "count" | "max" | "unique_count" | "latest";
  created_at: string;
  field_name?: string | null;
  id: string;
  livemode: boolean;
  name: string;
  reset_cycle: "monthly" | "weekly" | "quarterly" | "yearly" | "never";
  unit: string;
}

/**
 * Running usage of one meter in the current period, as accepted so far.
 *
 * `latest_at`/`latest_event_id` serve the `latest` aggregation; the invoice itself is always
 * aggregated from the database (see `billing.running`).
 */
export interface MeterUsage {
  distinct?: Array<string>;
  estimated?: boolean;
  events?: number;
  latest_at?: string | null;
  latest_event_id?: string | null;
  quantity?: string;
}

export interface NotificationsOut {
  account_id: string;
  events: Record<string, Record<string, unknown>>;
  livemode: boolean;
  webhook_endpoints: Array<string>;
}

/**
 * Usage sold in whole packages: `ceil(max(q - free_units, 0) / package_size)` of them.
 */
export interface PackageUsageComponent {
  description?: string | null;
  free_units?: string | number;
  meter_id: string;
  package_price: string | number;
  package_size: string | number;
  type?: "usage";
}

export interface Page_CustomerOut_ {
  data: Array<CustomerOut>;
  has_more: boolean;
}

export interface Page_InvoiceOut_ {
  data: Array<InvoiceOut>;
  has_more: boolean;
}

export interface Page_MeterOut_ {
  data: Array<MeterOut>;
  has_more: boolean;
}

export interface Page_PricingOut_ {
  data: Array<PricingOut>;
  has_more: boolean;
}

export interface Page_SubscriptionSummary_ {
  data: Array<SubscriptionSummary>;
  has_more: boolean;
}

export interface Page_WebhookEndpointOut_ {
  data: Array<WebhookEndpointOut>;
  has_more: boolean;
}

export interface PaymentIn {
  amount?: string | number | null;
  currency?: string | null;
  payment_id?: string | null;
}

export interface PaymentOut {
  amount: string;
  applied: string;
  credited: string;
  currency: string;
  payment_id: string;
  received_at: string;
}

export interface PaymentResultOut {
  amount_due: string;
  amount_paid: string;
  credit_added: string;
  invoice_number: string;
  livemode: boolean;
  new: boolean;
  payment_id: string;
  status: string;
}

/**
 * Usage priced at one unit price.
 */
export interface PerUnitUsageComponent {
  description?: string | null;
  meter_id: string;
  type?: "usage";
  unit_price: string | number;
}

/**
 * A half-open interval of time `[start, end)`, in UTC.
 */
export interface Period {
  end: string;
  start: string;
}

export interface PlanChangeIn {
  pricing_id: number;
  prorate_now?: boolean;
}

/**
 * The price of one product: recurring fees and usage charges in one currency.
 */
export interface Pricing {
  components: Array<RecurringComponent | TieredUsageComponent | PerUnitUsageComponent | PackageUsageComponent>;
  currency?: string;
  product_id: string;
}

export interface PricingOut {
  components: Array<Record<string, unknown>>;
  created_at: string;
  currency: string;
  id: number;
  livemode: boolean;
  product_id: string;
  version: number;
}

/**
 * An RFC 9457 problem: `code` is stable, `detail` says what to change.
 */
export interface Problem {
  code: string;
  detail: string;
  field?: string | null;
  status: number;
  title: string;
  type: string;
}

/**
 * Rounded lines and their totals. Validation enforces the invoice arithmetic.
 */
export interface RatedInvoice {
  currency: string;
  lines: Array<InvoiceLine>;
  subtotal: string;
  tax: string;
  tax_rate: string;
  total: string;
}

/**
 * A fixed fee per cycle, prorated by days for a partial period.
 */
export interface RecurringComponent {
  amount: string | number;
  cycle?: "monthly" | "quarterly" | "yearly";
  description?: string | null;
  type?: "recurring";
}

/**
 * An event a signal carried that can never count, and why.
 */
export interface RejectedEvent {
  event_id: string | null;
  reason: string;
  received_at: string;
}

export interface StatusChangeOut {
  at: string;
  from_status: string | null;
  reason: string | null;
  to_status: string;
}

export interface SubscriptionIn {
  customer_id: string;
  id?: string | null;
  pricing_id: number;
  start_at?: string | null;
}

/**
 * The subscription workflow's `status` query, with the API's `id` and `livemode`.
 */
export interface SubscriptionOut {
  cancel_at_period_end: boolean;
  customer_id: string;
  drafts_awaiting_approval: Array<string>;
  id: string;
  late_events: number;
  livemode: boolean;
  next_invoice_at: string | null;
  open_invoices: Array<string>;
  overdue_invoices: Array<string>;
  pending_plan_change: string | null;
  period: Period;
  product_id: string;
  rejected_events: Array<RejectedEvent>;
  status: "active" | "past_due" | "suspended" | "canceled";
  subscription_id: string;
  usage: Record<string, MeterUsage>;
  waiting_for: string;
}

export interface SubscriptionStarted {
  customer_id: string;
  id: string;
  livemode: boolean;
  namespace: string;
  pricing_id: number;
  run_id: string;
  start_at: string | null;
  workflow_id: string;
}

export interface SubscriptionSummary {
  canceled_at: string | null;
  current_period: Period;
  customer_id: string;
  id: string;
  livemode: boolean;
  pricing_id: number;
  started_at: string;
  status: string;
}

/**
 * One price tier. `up_to` is inclusive and cumulative; `None` (JSON null) is infinity.
 */
export interface Tier {
  flat_price?: string | number;
  unit_price: string | number;
  up_to: string | number | null;
}

/**
 * The part of a charge that falls in one tier: `from_units < q <= up_to`.
 */
export interface TierCharge {
  amount: string;
  flat_price: string;
  from_units: string;
  quantity: string;
  tier: number;
  unit_price: string;
  up_to: string | null;
}

/**
 * Usage priced by tiers: graduated (each unit at its tier, the default) or volume.
 */
export interface TieredUsageComponent {
  description?: string | null;
  meter_id: string;
  tiers: Array<Tier>;
  tiers_mode?: "graduated" | "volume";
  type?: "usage";
}

export interface UsageIn {
  events: Array<Record<string, unknown>>;
  subscription_id?: string | null;
}

/**
 * What a usage batch did: committed, already held (a success, counted once), rejected.
 */
export interface UsageIntakeResult {
  accepted?: number;
  duplicates?: number;
  rejected?: Array<UsageRejection>;
}

/**
 * One event of a usage batch that was not accepted: its place, its code and the reason.
 */
export interface UsageRejection {
  code: string;
  event_id: string | null;
  index: number;
  reason: string;
}

export interface VoidIn {
  reason: string;
}

export interface WebhookEndpointIn {
  secret?: string | null;
  url: string;
}

export interface WebhookEndpointOut {
  created_at: string;
  enabled: boolean;
  id: string;
  livemode: boolean;
  secret?: string | null;
  url: string;
}
