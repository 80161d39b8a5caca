// Retries against a real local HTTP server that fails on purpose: the POST is repeated with the
// same Idempotency-Key; a 4xx that is not "in progress" is not retried. No API needed.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { Billing, ConflictError, InvalidRequestError } from "../dist/index.js";

/** A server answering each request with the next of `answers` ([status, body]). */
async function serve(answers) {
  const seen = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body });
      const [status, answer] = answers[Math.min(seen.length - 1, answers.length - 1)];
      if (status === 0) return request.socket.destroy(); // the answer is lost
      const type = status < 300 ? "application/json" : "application/problem+json";
      response.writeHead(status, { "content-type": type, "retry-after": "0" });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${server.address().port}`;
  const client = new Billing({ apiKey: "pk_test_x", baseUrl, maxRetries: 4 });
  return { client, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

const problem = (status, code) => ({ type: "about:blank", title: "t", status, code, detail: code });
const meter = { id: "m", name: "m", unit: "GB", aggregation: "sum", reset_cycle: "monthly" };

test("a lost answer, 409 in progress, 429 and 503 are retried with one key", async () => {
  const { client, seen, close } = await serve([
    [0, null],
    [409, problem(409, "idempotency_key_in_progress")],
    [429, problem(429, "rate_limited")],
    [503, problem(503, "unavailable")],
    [201, meter],
  ]);
  try {
    const created = await client.billing.meters.create({ name: "m", unit: "GB", aggregation: "sum" });
    assert.equal(created.id, "m");
  } finally {
    await close();
  }
  assert.equal(seen.length, 5);
  const keys = new Set(seen.map((request) => request.headers["idempotency-key"]));
  assert.equal(keys.size, 1);
  assert.ok([...keys][0].length >= 32);
  assert.equal(seen[0].headers.authorization, "Bearer pk_test_x");
  assert.equal(seen[0].url, "/v1/billing/meters");
});

test("another conflict and an invalid request are thrown at once, typed, with the code", async () => {
  const { client, seen, close } = await serve([
    [409, problem(409, "meter_conflict")],
    [422, { ...problem(422, "unknown_field"), field: "nme" }],
  ]);
  try {
    await assert.rejects(client.billing.meters.create({ name: "m", unit: "GB", aggregation: "sum" }), (error) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "meter_conflict");
      return true;
    });
    await assert.rejects(client.billing.customers.create({ id: "c", name: "n", email: "e" }), (error) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.deepEqual([error.status, error.code, error.field], [422, "unknown_field", "nme"]);
      return true;
    });
  } finally {
    await close();
  }
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0].headers["idempotency-key"], seen[1].headers["idempotency-key"]);
});

test("for await walks every page with starting_after", async () => {
  const { client, seen, close } = await serve([
    [200, { data: [{ id: "a" }, { id: "b" }], has_more: true }],
    [200, { data: [{ id: "c" }], has_more: false }],
  ]);
  const ids = [];
  try {
    for await (const customer of client.billing.customers.list({ limit: 2 })) ids.push(customer.id);
  } finally {
    await close();
  }
  assert.deepEqual(ids, ["a", "b", "c"]);
  assert.equal(seen[1].url, "/v1/billing/customers?limit=2&starting_after=b");
  assert.equal(seen[0].headers["idempotency-key"], undefined);
});

test("usage is recorded in batches of 1,000", async () => {
  const { client, seen, close } = await serve([
    [200, { accepted: 999, duplicates: 1, rejected: [] }],
    [200, { accepted: 499, duplicates: 0, rejected: [{ index: 7, event_id: "e1007", code: "negative_quantity", reason: "<0" }] }],
  ]);
  const events = Array.from({ length: 1500 }, (_, i) => ({ event_id: `e${i}`, meter_id: "m", quantity: 1 }));
  let usage;
  try {
    usage = await client.billing.usage.record({ subscription_id: "s", events });
  } finally {
    await close();
  }
  assert.deepEqual([usage.accepted, usage.duplicates], [1498, 1]);
  assert.deepEqual(usage.rejected.map((rejection) => rejection.index), [1007]);
  assert.deepEqual(seen.map((request) => JSON.parse(request.body).events.length), [1000, 500]);
});
