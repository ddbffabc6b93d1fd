import { redactText } from "./redact";

/**
 * Transient RPC failures and retrying them: one classification of a failure (the transport's
 * fault, or an answer about the transaction), and one retry loop with exponential backoff for
 * every RPC call, reads and sends alike.
 */

// ---------------------------------------------------------------------------------------------
// Classifying failures

/** Node and undici error codes of a connection that failed or timed out, and ethers' codes for the same. */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "NETWORK_ERROR",
  "TIMEOUT",
]);
/** ethers codes that are answers about the transaction, never the transport's fault. */
const DEFINITE_CODES = new Set([
  "CALL_EXCEPTION",
  "INSUFFICIENT_FUNDS",
  "NONCE_EXPIRED",
  "REPLACEMENT_UNDERPRICED",
  "TRANSACTION_REPLACED",
  "INVALID_ARGUMENT",
  "ACTION_REJECTED",
  "UNSUPPORTED_OPERATION",
]);
/** JSON-RPC error codes of rate limiting ("limit exceeded", Infura and others). */
const TRANSIENT_RPC_CODES = new Set([-32005, 429]);
const TRANSIENT_MESSAGE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up|fetch failed|network error|request timeout|timed out|too many requests|rate limit|server response (?:429|5\d\d)/i;

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  data?: unknown;
  status?: unknown;
  statusCode?: unknown;
  response?: { statusCode?: unknown; status?: unknown };
  cause?: unknown;
  error?: unknown;
  parent?: unknown;
  info?: { error?: unknown };
}

/** The error and what it wraps (ethers `error`/`info.error`, `cause`, Hardhat's `parent`), outermost first. */
function chain(error: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && out.length < 12) {
    const e = queue.shift();
    if (e === null || typeof e !== "object" || out.includes(e as ErrorLike)) continue;
    const o = e as ErrorLike;
    out.push(o);
    queue.push(o.error, o.info?.error, o.cause, o.parent);
  }
  return out;
}

function httpStatus(o: ErrorLike): number | undefined {
  for (const s of [o.response?.statusCode, o.response?.status, o.status, o.statusCode]) {
    if (typeof s === "number") return s;
  }
  return undefined;
}

/** An error's message, with URLs redacted (ethers writes the request URL, API key included, into it). */
export const messageOf = (error: unknown): string =>
  redactText(error instanceof Error ? error.message : typeof error === "string" ? error : String(error));

/**
 * Whether a failure is the transport's (the node unreachable, a reset connection, a timeout, HTTP 429
 * or 5xx, JSON-RPC rate limiting), so that the same request may succeed if simply tried again.
 * Answers about the transaction (a revert, insufficient funds, a used nonce) are never transient.
 */
export function isTransient(error: unknown): boolean {
  if (revertDataOf(error) !== undefined) return false;
  const links = chain(error);
  // First the transport's signals anywhere in the chain: ethers reports an eth_call refused for
  // rate limiting as a CALL_EXCEPTION without data, wrapping the node's -32005.
  for (const o of links) {
    if (typeof o.code === "string" && TRANSIENT_CODES.has(o.code)) return true;
    const status = httpStatus(o);
    if (o.code === "SERVER_ERROR") return status === undefined || status === 429 || status >= 500;
    if (status !== undefined && (status === 429 || (status >= 500 && status < 600))) return true;
    if (typeof o.code === "number" && TRANSIENT_RPC_CODES.has(o.code)) return true;
  }
  if (links.some((o) => typeof o.code === "string" && DEFINITE_CODES.has(o.code))) return false;
  return links.some((o) => typeof o.message === "string" && TRANSIENT_MESSAGE.test(o.message));
}

/** The revert data carried by a failed call (ethers' CALL_EXCEPTION, Hardhat's errors, raw JSON-RPC errors). */
export function revertDataOf(error: unknown): string | undefined {
  for (const o of chain(error)) {
    if (typeof o.data === "string" && /^0x(?:[0-9a-f]{2})*$/i.test(o.data)) return o.data;
    const inner = o.data as { data?: unknown } | null | undefined;
    if (inner !== null && typeof inner === "object" && typeof inner.data === "string") return inner.data;
  }
  return undefined;
}

/** Whether a failed call is the contract's answer (a revert), whatever the provider that reports it. */
export function isRevert(error: unknown): boolean {
  return classify(error) === "reverted";
}

/** What a failed call or broadcast means for the sender (what `ManagedSigner` does next depends on it). */
export type Failure = "reverted" | "funds" | "nonce-expired" | "underpriced" | "known" | "transient" | "other";

export function classify(error: unknown): Failure {
  const links = chain(error);
  const has = (code: string) => links.some((o) => o.code === code);
  const says = (re: RegExp) => links.some((o) => typeof o.message === "string" && re.test(o.message));
  if (revertDataOf(error) !== undefined) return "reverted";
  if (isTransient(error)) return "transient";
  if (has("CALL_EXCEPTION")) return "reverted";
  if (has("INSUFFICIENT_FUNDS") || says(/insufficient funds|doesn't have enough funds/i)) return "funds";
  if (has("NONCE_EXPIRED") || says(/nonce (?:is )?too low|nonce has already been used/i)) return "nonce-expired";
  if (has("REPLACEMENT_UNDERPRICED") || says(/underpriced|replacement fee too low/i)) return "underpriced";
  if (says(/already known|known transaction/i)) return "known";
  if (says(/revert|VM Exception|invalid opcode/i)) return "reverted";
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Retrying

export interface RetryOptions {
  /** Extra attempts after a transient failure (0: try once). */
  retries: number;
  /** The first retry waits this long; each next one twice as long, at most `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Which failures are tried again (`isTransient` unless given); the others pass through at once. */
  retryable?: (error: unknown) => boolean;
  /** Hears each retryable failure (`attempt` counts from 0) before anything else is done about it. */
  onFailure?: (error: unknown, attempt: number) => void;
  /** Hears each retry before its wait: `attempt` is the one about to be made (counting from 1), `delayMs` the wait. */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** What to throw when the retries are used up (the last failure unless given); `attempts` made in all. */
  exhausted?: (error: unknown, attempts: number) => unknown;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, trying it again after a transient failure (see `isTransient`) with exponential
 * backoff, at most `retries` more times; any other failure passes through unchanged.
 */
/** How reads of the chain are retried: a few attempts within about 8 s, then the error stands. */
export const READ_RETRY: RetryOptions = Object.freeze({ retries: 4, retryBaseMs: 250, retryMaxMs: 4_000 });

export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { retries, retryBaseMs, retryMaxMs } = options;
  const retryable = options.retryable ?? isTransient;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!retryable(error)) throw error;
      options.onFailure?.(error, attempt);
      if (attempt >= retries) throw options.exhausted === undefined ? error : options.exhausted(error, attempt + 1);
      const delay = Math.min(retryBaseMs * 2 ** attempt, retryMaxMs);
      options.onRetry?.(attempt + 2, delay, error);
      await sleep(delay);
    }
  }
}
