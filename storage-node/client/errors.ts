/**
 * Codes the client adds to the node's own ({@link ErrorCode} in the protocol): what went wrong on
 * the way to a node or in what it answered.
 */
export const ClientErrorCode = {
  /** The node did not answer within the client's per-node timeout. */
  Timeout: "timeout",
  /** No connection (refused, reset, DNS). */
  Unreachable: "unreachable",
  /** The answer is not what the protocol says (bad JSON, missing headers, wrong status). */
  BadResponse: "bad-response",
  /** The bytes do not match the hash the node announced, or the receipts are wrong. */
  CorruptData: "corrupt-data",
  BadReceipt: "bad-receipt",
  /** Every replica failed; `attempts` says how each one did. */
  AllReplicasFailed: "all-replicas-failed",
  /** A bad argument, before anything was sent. */
  InvalidArgument: "invalid-argument",
  /** The cluster has no node for the key, or a node has no URL. */
  NoReplicas: "no-replicas",
} as const;

/**
 * Every failure of the storage client. `node` is the URL of the node that failed (empty when
 * nothing was sent); the message names it, so that a log line says which node to look at.
 */
export class StorageClientError extends Error {
  override name = "StorageClientError";
  /** The node's error code (`not-found`, `forbidden`, …) or one of {@link ClientErrorCode}. */
  readonly code: string;
  /** The HTTP status, 0 if there was none (timeout, connection error, bad argument). */
  readonly status: number;
  /** The node's URL. */
  readonly node: string;
  /** With `all-replicas-failed`: each replica's failure, in the order tried. */
  readonly attempts: StorageClientError[];

  constructor(
    code: string,
    message: string,
    options: { status?: number; node?: string; attempts?: StorageClientError[]; cause?: unknown } = {},
  ) {
    const node = options.node ?? "";
    super(node === "" || message.includes(node) ? message : `${node}: ${message}`, { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 0;
    this.node = node;
    this.attempts = options.attempts ?? [];
  }

  /** Whether the next replica may succeed where this node failed (it is down, slow or wrong). */
  get retryable(): boolean {
    return (
      this.code === ClientErrorCode.Timeout ||
      this.code === ClientErrorCode.Unreachable ||
      this.code === ClientErrorCode.BadResponse ||
      this.code === ClientErrorCode.CorruptData ||
      this.status >= 500
    );
  }
}
