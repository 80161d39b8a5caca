/**
 * One request, sent until it has an answer worth returning.
 *
 * Every POST carries an `Idempotency-Key` chosen once and reused for all its retries, so a retry
 * after a lost response replays the first answer instead of creating a second object. Retried:
 * network errors and timeouts, 409 `idempotency_key_in_progress` (the first attempt is still
 * running), 429 and 5xx; with exponential backoff and jitter, honouring `Retry-After`.
 */

import { BillingError, ConnectionError, errorFor, type ProblemBody } from "./errors.js";

export interface HttpOptions {
  apiKey: string;
  baseUrl: string;
  maxRetries: number;
  timeoutMs: number;
  fetch: typeof fetch;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Overrides the automatic key (POST only), e.g. to retry across process restarts. */
  idempotencyKey?: string;
}

const PREFIX = "/v1/billing";

export class Http {
  readonly options: HttpOptions;
  private readonly root: string;

  constructor(options: HttpOptions) {
    this.options = options;
    this.root = options.baseUrl.replace(/\/+$/, "").replace(/\/v1\/billing$/, "");
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const key = method === "POST" ? (options.idempotencyKey ?? newKey()) : undefined;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.options.apiKey}`,
      Accept: "application/json",
    };
    if (key !== undefined) headers["Idempotency-Key"] = key;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.options.maxRetries;
      let response: Response;
      try {
        response = await this.options.fetch(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (cause) {
        if (last) {
          throw new ConnectionError(`${method} ${url} got no answer: ${String(cause)}`, cause, key);
        }
        await sleep(backoff(attempt, null));
        continue;
      }
      if (response.ok) {
        const text = await response.text();
        return (text === "" ? undefined : JSON.parse(text)) as T;
      }
      const error = errorFor(response.status, await problemOf(response), key);
      if (last || !retryable(error)) throw error;
      await sleep(backoff(attempt, response.headers.get("Retry-After")));
    }
  }

  private url(path: string, query: Query | undefined): string {
    const url = new URL(this.root + PREFIX + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }
}

function retryable(error: BillingError): boolean {
  return (
    error.status === 429 ||
    error.status >= 500 ||
    (error.status === 409 && error.code === "idempotency_key_in_progress")
  );
}

async function problemOf(response: Response): Promise<ProblemBody> {
  const text = await response.text();
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") return parsed as ProblemBody;
  } catch {
    // not JSON: a proxy's error page, say
  }
  return { status: response.status, detail: text.slice(0, 500) || response.statusText };
}

function backoff(attempt: number, retryAfter: string | null): number {
  const seconds = retryAfter === null ? NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 30_000);
  const ceiling = Math.min(250 * 2 ** attempt, 8_000);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh key: a UUID from Web Crypto where there is one (Node ≥ 19), else 128 random bits. */
function newKey(): string {
  const webCrypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (webCrypto?.randomUUID) return webCrypto.randomUUID();
  let hex = "";
  for (let i = 0; i < 32; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return hex;
}
