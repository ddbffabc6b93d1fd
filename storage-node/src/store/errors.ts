import { ErrorCode, type ErrorCodeName } from "../protocol";

/** An error of the store, with the protocol code the server answers with. */
export class StoreError extends Error {
  constructor(
    readonly code: ErrorCodeName,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The body passed `maxBytes`: reading stopped and nothing was kept. */
export class TooLargeError extends StoreError {
  constructor(readonly maxBytes: number) {
    super(ErrorCode.TooLarge, `body exceeds ${maxBytes} bytes`);
  }
}

/** The body's SHA-256 is not the one announced: nothing was kept. */
export class DigestMismatchError extends StoreError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(ErrorCode.DigestMismatch, `body sha256 is ${actual}, expected ${expected}`);
  }
}

/** No such blob or object. */
export class NotFoundError extends StoreError {
  constructor(what: string) {
    super(ErrorCode.NotFound, `${what} not found`);
  }
}

/**
 * The object changed while it was being read (overwritten or deleted, its old blob collected): the
 * read may be retried on the current row. A NotFound, never a corruption.
 */
export class ObjectChangedError extends NotFoundError {
  constructor(
    readonly bucket: bigint,
    readonly key: string,
  ) {
    super(`object "${key}" of bucket ${bucket}`);
    this.message = `object "${key}" of bucket ${bucket} changed while it was read: read it again`;
  }
}

/** A blob's bytes do not match its hashes: it was quarantined and a repair queued. */
export class IntegrityError extends StoreError {
  constructor(
    readonly sha256: string,
    readonly detail: string,
  ) {
    super(ErrorCode.Quarantined, `blob ${sha256} is corrupt (${detail}): quarantined`);
  }
}

/** A byte range outside the object. */
export class RangeNotSatisfiableError extends StoreError {
  constructor(start: number, end: number, size: number) {
    super(ErrorCode.RangeNotSatisfiable, `range ${start}-${end} is outside an object of ${size} bytes`);
  }
}
