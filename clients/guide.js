// The platform guide's four calls on `client`, copied verbatim from the guide (Configure Billing).
// tests/e2e/test_typescript_client.py checks that clients/typescript/test/guide.test.mjs runs
// exactly these lines.

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
