import type { ErrorCodeName } from "../protocol";

/**
 * A failure the node answers with an HTTP status and a protocol error code
 * (`{ error: { code, message } }`): the server maps any `NodeError` to its response as it is.
 */
export class NodeError extends Error {
  override name = "NodeError";

  constructor(
    readonly status: number,
    readonly code: ErrorCodeName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
