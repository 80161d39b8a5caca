/**
 * Typed errors. Every API error is an RFC 9457 problem with a stable `code`
 * (`unknown_customer`, `meter_conflict`, `invalid_usage`, ...); branch on `code`, not on words.
 */

/** The problem body the API answers with (`application/problem+json`). */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  field?: string | null;
}

/** Any error the API answered with. `code` is the problem's stable code. */
export class BillingError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  readonly detail: string;
  readonly problem: ProblemBody;
  /** The `Idempotency-Key` the request was sent with (POST only), to retry it by hand. */
  readonly idempotencyKey: string | undefined;

  constructor(status: number, problem: ProblemBody, idempotencyKey?: string) {
    const code = problem.code ?? `http_${status}`;
    const detail = problem.detail ?? problem.title ?? `HTTP ${status}`;
    super(`${status} ${code}: ${detail}`);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.field = problem.field ?? null;
    this.detail = detail;
    this.problem = problem;
    this.idempotencyKey = idempotencyKey;
  }
}

/** 401: no valid key. */
export class AuthenticationError extends BillingError {}
/** 404: missing, or another account's or mode's object (the API does not tell them apart). */
export class NotFoundError extends BillingError {}
/** 409: conflicts with the current state (an existing id, a key still in flight). */
export class ConflictError extends BillingError {}
/** 413 and 422: the request is invalid; `field` says where. */
export class InvalidRequestError extends BillingError {}
/** 429: too many requests (retried automatically first). */
export class RateLimitError extends BillingError {}
/** 5xx: the server failed (retried automatically first). */
export class ServerError extends BillingError {}

/** The request never got an answer (connection refused or reset, timeout), after every retry. */
export class ConnectionError extends Error {
  readonly idempotencyKey: string | undefined;

  constructor(message: string, cause: unknown, idempotencyKey?: string) {
    super(message, { cause });
    this.name = "ConnectionError";
    this.idempotencyKey = idempotencyKey;
  }
}

/** The error class for an HTTP status. */
export function errorFor(status: number, problem: ProblemBody, idempotencyKey?: string): BillingError {
  const kind =
    status === 401
      ? AuthenticationError
      : status === 404
        ? NotFoundError
        : status === 409
          ? ConflictError
          : status === 413 || status === 422 || status === 400
            ? InvalidRequestError
            : status === 429
              ? RateLimitError
              : status >= 500
                ? ServerError
                : BillingError;
  return new kind(status, problem, idempotencyKey);
}
