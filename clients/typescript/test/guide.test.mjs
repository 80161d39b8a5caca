// The guide's four calls, verbatim (copied from the platform's guide; only `client` is built
// before them), against a real `billing api` process with a fresh pk_test_ key, a worker and the
// Temporal dev server, all started by tests/e2e/test_typescript_client.py, which passes:
//   BILLING_API_URL, BILLING_API_KEY, BILLING_RUN (unique suffix), BILLING_START_AT (a month
//   back, so the first invoice is due now), BILLING_USAGE_GB (JSON list, 350 GB in all), and
//   BILLING_USAGE_RECORDED (a file to create once the usage is in: the worker starts then, so
//   the backdated period is invoiced with its usage rather than before it).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";

import { Billing } from "../dist/index.js";

const env = process.env;
const skip = env.BILLING_API_URL && env.BILLING_API_KEY ? false : "needs BILLING_API_URL/_KEY";

test("the guide's code runs verbatim and the 74.99 EUR invoice comes back", { skip }, async () => {
const client = new Billing({ apiKey: env.BILLING_API_KEY, baseUrl: env.BILLING_API_URL });

const meter = await client.billing.meters.create({
  name: "bandwidth_egress",
  unit: "GB",
  aggregation: "sum",
  reset_cycle: "monthly",
});

await client.billing.pricing.create({
  product_id: "prod_web_hosting",
  components: [
    {
      type: "recurring",
      amount: 49.99,
      cycle: "monthly",
    },
    {
      type: "usage",
      meter_id: meter.id,
      tiers: [
        { up_to: 100, unit_price: 0 },        // 100GB included
        { up_to: 1000, unit_price: 0.05 },     // EUR 0.05/GB
        { up_to: null, unit_price: 0.03 },      // Volume discount
      ],
    },
  ],
  currency: "EUR",
});

await client.billing.config.update({
  auto_generate_invoices: true,
  invoice_day: 1,           // Generate on 1st of each month
  payment_terms_days: 14,   // Due in 14 days
  tax_rate: 0.20,           // 20% VAT
  currency: "EUR",
});

await client.billing.notifications.configure({
  invoice_generated: { email: true, webhook: true },
  payment_received: { email: true },
  payment_overdue: { email: true, webhook: true },
  usage_threshold: {
    email: true,
    thresholds: [80, 90, 100], // % of included usage
  },
});

  // What the guide's calls left behind, read back through the client.
  assert.equal(meter.name, "bandwidth_egress");
  const config = await client.billing.config.retrieve();
  assert.deepEqual([config.tax_rate, config.invoice_day, config.currency], ["0.2", 1, "EUR"]);
  const pricing = [];
  for await (const price of client.billing.pricing.list({ limit: 1 })) pricing.push(price);
  assert.equal(pricing.length, 1);
  assert.equal(pricing[0].product_id, "prod_web_hosting");

  const run = env.BILLING_RUN;
  const customer = await client.billing.customers.create({
    id: `cus_${run}`,
    name: "Test GmbH",
    email: "test-customer@example.com",
  });
  const startAt = new Date(env.BILLING_START_AT);
  const subscription = await client.billing.subscriptions.create({
    id: `sub_${run}`,
    customer_id: customer.id,
    pricing_id: pricing[0].id,
    start_at: startAt.toISOString(),
  });
  const gigabytes = JSON.parse(env.BILLING_USAGE_GB);
  const usage = await client.billing.usage.record({
    subscription_id: subscription.id,
    events: gigabytes.map((quantity, week) => ({
      event_id: `evt_${run}_${week}`,
      meter_id: meter.id,
      quantity,
      timestamp: new Date(startAt.getTime() + (week * 7 + 2) * 86_400_000).toISOString(),
    })),
  });
  assert.deepEqual([usage.accepted, usage.rejected], [gigabytes.length, []]);
  if (env.BILLING_USAGE_RECORDED) writeFileSync(env.BILLING_USAGE_RECORDED, subscription.id);

  let invoice;
  const deadline = Date.now() + 120_000;
  while (invoice === undefined) {
    assert.ok(Date.now() < deadline, "gave up waiting for the first invoice");
    for await (const open of client.billing.invoices.list({
      subscription_id: subscription.id,
      status: "open",
    })) {
      invoice = open;
    }
    if (invoice === undefined) await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const stored = await client.billing.invoices.retrieve(invoice.number);
  assert.deepEqual(
    [stored.currency, stored.subtotal, stored.tax, stored.total],
    ["EUR", "62.49", "12.50", "74.99"],
  );
  assert.deepEqual(stored.lines.map((line) => line.amount), ["49.99", "12.50"]);
  assert.equal(Number(stored.lines[1].quantity), 350);
});

test("another account's invoice is a typed NotFoundError with the problem code", { skip }, async () => {
  const { NotFoundError } = await import("../dist/index.js");
  const client = new Billing({ apiKey: env.BILLING_API_KEY, baseUrl: env.BILLING_API_URL });
  await assert.rejects(client.billing.invoices.retrieve("MISSING-TEST-000001"), (error) => {
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.status, 404);
    assert.equal(typeof error.code, "string");
    return true;
  });
});
