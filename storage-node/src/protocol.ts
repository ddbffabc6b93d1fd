import type { TypedDataDomain } from "ethers";

/**
 * The storage node's wire protocol: what an app, a peer node and a validator send, and what they
 * get back. Everything here is shared by the node (`storage-node/src`) and its client
 * (`storage-node/client`); it changes only with a new protocol version.
 *
 * Authorisation is a two-step delegation:
 *
 * 1. A **session**: a wallet signs once, with EIP-712, that an ed25519 session key may act for it
 *    until `expiry`. Three kinds:
 *    - `Session` (an app): `{ bucket, sessionKey, operations, issuedAt, expiry }`, signed by the bucket's
 *      owner or an account holding a role on it; `operations` is a bit set of {@link Op}.
 *    - `NodeSession` (a peer): `{ node, sessionKey, issuedAt, expiry }`, signed by the node's registered
 *      signing key; used for replication and repair between members of one cluster.
 *    - `ValidatorSession` (a validator): `{ cluster, sessionKey, issuedAt, expiry }`, signed by one of the
 *      cluster's validators; used for challenges.
 *    The token travels base64url-encoded JSON in the `x-ddc-session` header; a node verifies a
 *    token's EIP-712 signature once and caches the result until the token expires. A session lasts
 *    at most `MAX_SESSION_TTL_S` from `issuedAt` to `expiry`.
 * 2. Each **request** is signed by the session key (ed25519, 64 bytes, base64url in
 *    `x-ddc-signature`) over {@link canonicalRequest}: the target node's id, method, request target
 *    (path and query as sent), body SHA-256, a PUT's content type, `x-ddc-version`, request expiry
 *    and, for writes and deletes, a nonce that the node keeps in a replay window until the request
 *    expires.
 */
export const PROTOCOL_VERSION = 1;

/** The EIP-712 domain of sessions and receipts: `{ name: "DDC Storage", version: "1", chainId, verifyingContract: <the core> }`. */
export function storageDomain(chainId: number | bigint, core: string): TypedDataDomain {
  return { name: "DDC Storage", version: "1", chainId, verifyingContract: core };
}

/** Operations a session may allow (a bit set). */
export const Op = { Read: 1, Write: 2, Delete: 4, List: 8 } as const;
export type OpName = keyof typeof Op;
export const ALL_OPS = Op.Read | Op.Write | Op.Delete | Op.List;

export const SESSION_TYPES = {
  Session: [
    { name: "bucket", type: "uint64" },
    { name: "sessionKey", type: "bytes32" },
    { name: "operations", type: "uint8" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiry", type: "uint64" },
  ],
} as const;

export const NODE_SESSION_TYPES = {
  NodeSession: [
    { name: "node", type: "uint32" },
    { name: "sessionKey", type: "bytes32" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiry", type: "uint64" },
  ],
} as const;

export const VALIDATOR_SESSION_TYPES = {
  ValidatorSession: [
    { name: "cluster", type: "uint32" },
    { name: "sessionKey", type: "bytes32" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiry", type: "uint64" },
  ],
} as const;

/**
 * A storage receipt: node `node` holds `(bucket, key, version)` with this content: `size` bytes of
 * SHA-256 `sha256` whose Merkle root over the {@link LEAF_BYTES} leaves is `root` (so that a range
 * is checked leaf by leaf, without the whole object). Signed by the node's registered signing key
 * (EIP-712, {@link storageDomain}); the writer keeps the receipts a write returns.
 */
export const RECEIPT_TYPES = {
  Receipt: [
    { name: "node", type: "uint32" },
    { name: "bucket", type: "uint64" },
    { name: "key", type: "string" },
    { name: "version", type: "uint64" },
    { name: "sha256", type: "bytes32" },
    { name: "size", type: "uint64" },
    { name: "root", type: "bytes32" },
  ],
} as const;

/** The content a receipt names (hashes in hex, with or without 0x). */
export interface ReceiptRow {
  bucket: bigint;
  key: string;
  version: bigint;
  sha256: string;
  size: number;
  root: string;
}

const hex0x = (h: string) => `0x${h.toLowerCase().replace(/^0x/, "")}`;

/** The EIP-712 `Receipt` message of node `node` for `row`. */
export function receiptMessage(node: number, row: ReceiptRow) {
  return {
    node,
    bucket: row.bucket,
    key: row.key,
    version: row.version,
    sha256: hex0x(row.sha256),
    size: row.size,
    root: hex0x(row.root),
  };
}

/** The receipt as it travels: `row` and node `node`'s `signature` over {@link receiptMessage}. */
export function signedReceipt(node: number, row: ReceiptRow, signature: string): SignedReceipt {
  return {
    node,
    bucket: row.bucket.toString(),
    key: row.key,
    version: row.version.toString(),
    sha256: row.sha256,
    size: row.size,
    root: row.root,
    signature,
  };
}

/** The session token as it travels (JSON, then base64url). Integers are decimal strings or numbers. */
export type SessionToken =
  | {
      kind: "app";
      bucket: string;
      sessionKey: string;
      operations: number;
      issuedAt: number;
      expiry: number;
      signature: string;
    }
  | { kind: "node"; node: number; sessionKey: string; issuedAt: number; expiry: number; signature: string }
  | { kind: "validator"; cluster: number; sessionKey: string; issuedAt: number; expiry: number; signature: string };

export const HEADER = {
  session: "x-ddc-session",
  signature: "x-ddc-signature",
  expires: "x-ddc-expires",
  nonce: "x-ddc-nonce",
  contentSha256: "x-ddc-content-sha256",
  version: "x-ddc-version",
  root: "x-ddc-merkle-root",
  node: "x-ddc-node",
  /** Set by a coordinator when it forwards a write to the other replicas. */
  replicaOf: "x-ddc-replica-of",
  /**
   * On GET and HEAD of an object: the serving node's {@link SignedReceipt} for the row it serves
   * (base64url of its JSON, see {@link encodeReceiptHeader}), signed when the node stored the row.
   * Its `version` and `sha256` are those of `x-ddc-version` and the ETag.
   */
  receipt: "x-ddc-receipt",
} as const;

/** A request may be signed for at most this long ahead (seconds): it bounds the replay window. */
export const MAX_REQUEST_TTL_S = 15 * 60;
/** The longest session a node accepts (seconds), from its `issuedAt` to its `expiry`. */
export const MAX_SESSION_TTL_S = 30 * 24 * 3600;
/** How far ahead of the node's clock a session's `issuedAt` may be (seconds): clock skew. */
export const MAX_CLOCK_SKEW_S = 60;
/** The longest session token a node reads (characters of its header value); longer ones are refused unread. */
export const MAX_SESSION_TOKEN_CHARS = 2048;
/** The largest object (bytes); the client splits larger files into parts with a manifest. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
/** Merkle leaf size (bytes). */
export const LEAF_BYTES = 64 * 1024;
/** The longest object key (bytes of UTF-8). */
export const MAX_KEY_BYTES = 1024;
/**
 * Why `key` (an object key as the node sees it: the decoded request path after `/objects/`, so
 * `%2F` is a `/`) is refused, or undefined when it is a valid key. A key is 1 to
 * {@link MAX_KEY_BYTES} bytes of UTF-8 without control characters (U+0000–U+001F, U+007F) and
 * without a `.` or `..` segment; empty segments (`a//b`, `a/`, `/a`) are allowed and are keys of
 * their own.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "the object key is empty";
  if (new TextEncoder().encode(key).length > MAX_KEY_BYTES)
    return `the object key is longer than ${MAX_KEY_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return "the object key contains a control character (U+0000–U+001F, U+007F)";
  if (key.split("/").some((s) => s === "." || s === "..")) return 'the object key has a "." or ".." segment';
  return undefined;
}

/** The most objects one list call returns. */
export const MAX_LIST_LIMIT = 1000;

/**
 * Object versions are milliseconds since the epoch × 1000 plus a counter (strictly increasing on
 * the node that assigns them), and fit 63 bits (the metadata store keeps them as INTEGER).
 */
export const MAX_VERSION = (1n << 63n) - 1n;
/**
 * How far ahead of this node's clock a version from another node may be (ms): a version above
 * `(now + MAX_CLOCK_SKEW_MS) × 1000` is refused, so no peer can pin a key beyond later writes.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * A version as it travels (decimal digits, `x-ddc-version`, `?version=`, a row's `version`):
 * the bigint, or undefined when it is not a decimal integer of at most 63 bits. Callers answer
 * 400 for undefined.
 */
export function parseVersion(value: unknown): bigint | undefined {
  if (typeof value !== "string" || !/^(0|[1-9]\d{0,18})$/.test(value)) return undefined;
  const v = BigInt(value);
  return v <= MAX_VERSION ? v : undefined;
}

/** The highest version this node accepts from another one at `nowMs` (see {@link MAX_CLOCK_SKEW_MS}). */
export function maxAcceptedVersion(nowMs: number): bigint {
  return BigInt(Math.trunc(nowMs) + MAX_CLOCK_SKEW_MS) * 1000n + 999n;
}

/**
 * SHA-256 of the empty body, hex: the body hash of GET, HEAD, DELETE and list requests. A literal,
 * so that this module loads in a browser (the client's bundle) as well as in Node.
 */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * The string a request's session key signs (UTF-8), nine lines joined by `\n`:
 *
 *   DDC-REQUEST-2
 *   <node id, decimal>
 *   <METHOD>
 *   <target>
 *   <body sha256 hex>
 *   <content-type of a PUT, or "-">
 *   <x-ddc-version, or "-">
 *   <expires>
 *   <nonce, or "-">
 *
 * `node` is the id of the node the request is sent to: a node verifies with its own id, so a
 * request signed for one replica is refused by every other. `target` is the path and query exactly
 * as sent (`/v1/buckets/7/objects/photos/a.jpg`); the body hash of a request without a body is
 * {@link EMPTY_SHA256}. The content type counts on a PUT only; any
 * other method signs "-" whatever it sends. An absent or empty header signs "-".
 */
export function canonicalRequest(r: {
  node: number;
  method: string;
  target: string;
  bodySha256: string;
  contentType?: string;
  version?: string;
  expires: number;
  nonce?: string;
}): string {
  const method = r.method.toUpperCase();
  const dash = (v: string | undefined) => (v === undefined || v === "" ? "-" : v);
  const contentType = method === "PUT" ? dash(r.contentType) : "-";
  return [
    "DDC-REQUEST-2",
    String(r.node),
    method,
    r.target,
    r.bodySha256.toLowerCase(),
    contentType,
    dash(r.version),
    String(r.expires),
    dash(r.nonce),
  ].join("\n");
}

/** Error codes in JSON error bodies `{ error: { code, message, node } }`. */
export const ErrorCode = {
  BadRequest: "bad-request",
  Unauthenticated: "unauthenticated",
  SessionExpired: "session-expired",
  RequestExpired: "request-expired",
  BadSignature: "bad-signature",
  Replayed: "replayed",
  Forbidden: "forbidden",
  WrongBucket: "wrong-bucket",
  NotInCluster: "not-in-cluster",
  NotReplica: "not-replica",
  NotFound: "not-found",
  BucketInArrears: "bucket-in-arrears",
  BucketSuspended: "bucket-suspended",
  BucketClosed: "bucket-closed",
  CapExceeded: "cap-exceeded",
  TooLarge: "too-large",
  RangeNotSatisfiable: "range-not-satisfiable",
  DigestMismatch: "digest-mismatch",
  Quarantined: "quarantined",
  QuorumFailed: "quorum-failed",
  ChainUnavailable: "chain-unavailable",
  Internal: "internal",
  /** A write or delete lost to a newer version of the key: nothing was stored (409, `current` names it). */
  Superseded: "superseded",
  /** The node's disk is full (507): nothing was stored. */
  NodeFull: "node-full",
  /** The node's store is busy (503): retry. */
  Busy: "busy",
  /** An object key breaks a rule of {@link keyProblem} (400, the message names it). */
  BadKey: "bad-key",
  /** A PUT without `content-length` (411): chunked uploads are refused. */
  LengthRequired: "length-required",
  /** Too many requests of one kind (429): challenges per validator per era. */
  RateLimited: "rate-limited",
  /** The node's clock is too far from the chain's time to assign versions (503). */
  ClockSkew: "clock-skew",
  /** A request or its body was too slow (408). */
  Timeout: "timeout",
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  error: {
    code: ErrorCodeName;
    message: string;
    node?: string;
    /** `superseded`: the version the node holds (decimal). */
    current?: string;
    /** `quorum-failed`: the replicas that did not hold the write, and why; `not-replica`: the key's replicas. */
    replicas?: { id: number; url: string; reason?: string }[];
  };
}

/** What a node answers to a PUT: the object's identity and the replicas' receipts. */
export interface PutResult {
  bucket: string;
  key: string;
  version: string;
  sha256: string;
  size: number;
  root: string;
  receipts: SignedReceipt[];
}

export interface SignedReceipt {
  node: number;
  bucket: string;
  key: string;
  version: string;
  sha256: string;
  size: number;
  /** The Merkle root over the content's {@link LEAF_BYTES} leaves (hex). */
  root: string;
  signature: string;
}

/** The value of {@link HEADER.receipt}: base64url (no padding) of the receipt's JSON. */
export function encodeReceiptHeader(r: SignedReceipt): string {
  const bytes = new TextEncoder().encode(JSON.stringify(r));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The JSON of a {@link HEADER.receipt} value (to be checked by the reader); throws when not base64url JSON. */
export function decodeReceiptHeader(value: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(value)) throw new Error("not base64url");
  const bin = atob(value.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

export interface ObjectInfo {
  key: string;
  version: string;
  size: number;
  sha256: string;
  root: string;
}

export interface ListResult {
  objects: ObjectInfo[];
  /** Pass as `start-after` to get the next page; absent on the last page. */
  next?: string;
}

/** A challenge (POST /v1/qos/challenge, validator session). */
export interface ChallengeRequest {
  seed: string;
  bucket: string;
  key: string;
  leafIndex: number;
  nonce: string;
}

/** The answer: the leaf, its Merkle path to the object's root, signed by the node key. */
export interface ChallengeResponse {
  node: number;
  bucket: string;
  key: string;
  version: string;
  size: number;
  sha256: string;
  root: string;
  leafIndex: number;
  leafCount: number;
  /** base64 */
  leaf: string;
  /** sibling hashes, hex, from the leaf up */
  proof: string[];
  seed: string;
  nonce: string;
  signature: string;
}

/**
 * `GET /v1/buckets/:bucket/objects/<key>?leaves=1` (a read): the object's Merkle leaf hashes, so
 * that a client can check the bytes of a range against the root without fetching the whole
 * object. `sha256` and `version` identify the content the leaves belong to.
 */
export interface LeavesResult {
  key: string;
  version: string;
  size: number;
  sha256: string;
  root: string;
  /** {@link LEAF_BYTES} */
  leafSize: number;
  /** SHA-256(0x00 ‖ leaf), hex, in order. */
  leaves: string[];
}

/**
 * What a validator's challenge answer is signed over (EIP-712, {@link storageDomain}): the node
 * holds leaf `leafIndex` of `(bucket, key, version)`, whose hash is `leafHash` and whose path
 * leads to `root`, asked with `seed` and `nonce`.
 */
export const CHALLENGE_TYPES = {
  ChallengeProof: [
    { name: "node", type: "uint32" },
    { name: "seed", type: "string" },
    { name: "nonce", type: "string" },
    { name: "bucket", type: "uint64" },
    { name: "key", type: "string" },
    { name: "version", type: "uint64" },
    { name: "leafIndex", type: "uint32" },
    { name: "leafHash", type: "bytes32" },
    { name: "root", type: "bytes32" },
  ],
} as const;

/**
 * A node's usage record of one era of one cluster (GET /v1/usage/:cluster/:era), signed by the
 * node key (EIP-712, {@link storageDomain}). `manifestRoot` is the Merkle root over the bucket's
 * live objects sorted by key (byte order of UTF-8), one leaf per object: the UTF-8 bytes of
 * `<key>\n<version>\n<sha256>\n<size>\n<root>` (version and size in decimal, sha256 and the
 * object's Merkle root in lowercase hex without 0x) hashed as a leaf (SHA-256(0x00 ‖ bytes)); a
 * bucket without objects has the root of one empty leaf. So a challenge answer's size and root are
 * bound to what the node's manifest claims (`manifestRoot` in bucketManifest.ts computes it).
 */
export const USAGE_TYPES = {
  UsageRecord: [
    { name: "node", type: "uint32" },
    { name: "cluster", type: "uint32" },
    { name: "era", type: "uint32" },
    { name: "buckets", type: "BucketUsage[]" },
  ],
  BucketUsage: [
    { name: "bucket", type: "uint64" },
    { name: "storedBytes", type: "uint64" },
    { name: "servedBytes", type: "uint64" },
    { name: "requests", type: "uint64" },
    { name: "objects", type: "uint64" },
    { name: "manifestRoot", type: "bytes32" },
  ],
} as const;

/** The most entries one manifest page lists (`limit` of GET /v1/qos/manifest), and the default. */
export const MAX_MANIFEST_LIMIT = 10_000;
export const DEFAULT_MANIFEST_LIMIT = 1000;

/**
 * A page of a bucket's manifest (GET /v1/qos/manifest/:cluster/:era/:bucket, validator session),
 * signed by the node key (EIP-712, {@link storageDomain}). `objects` and `manifestRoot` are those of
 * the whole manifest (for a closed era, the usage record's); `pageRoot` is the manifest root of
 * this page's entries alone, so the signature covers them (a validator recomputes it from
 * `entries`: `manifestPageMessage` in bucketManifest.ts); `startAfter` is the request's
 * `start-after` and `next` the answer's, "" when absent.
 */
export const MANIFEST_PAGE_TYPES = {
  ManifestPage: [
    { name: "node", type: "uint32" },
    { name: "cluster", type: "uint32" },
    { name: "era", type: "uint32" },
    { name: "bucket", type: "uint64" },
    { name: "objects", type: "uint64" },
    { name: "manifestRoot", type: "bytes32" },
    { name: "startAfter", type: "string" },
    { name: "pageRoot", type: "bytes32" },
    { name: "next", type: "string" },
  ],
} as const;

/** One object of a manifest page (hashes lowercase hex without 0x, version decimal). */
export interface ManifestPageEntry {
  key: string;
  version: string;
  sha256: string;
  size: number;
  root: string;
}

/** The answer of GET /v1/qos/manifest/:cluster/:era/:bucket. */
export interface ManifestPage {
  node: number;
  cluster: number;
  era: number;
  bucket: string;
  /** Entries in the whole manifest. */
  objects: number;
  /** 0x + 64 hex: the root of all entries. */
  manifestRoot: string;
  /** In key order (byte order of UTF-8). */
  entries: ManifestPageEntry[];
  /** Pass as `start-after` for the next page; absent on the last page. */
  next?: string;
  signature: string;
}

/**
 * A probe's answer (GET /v1/qos/probe?nonce=…, validator session): the node's clock when it
 * answered (`at`, ms since the epoch), signed by the node key (EIP-712, {@link storageDomain}) over
 * the validator's `nonce` (16 to 64 hex digits, as sent).
 */
/** A probe's nonce: 16 to 64 hex digits. */
export const PROBE_NONCE = /^[0-9a-fA-F]{16,64}$/;

export const PROBE_TYPES = {
  Probe: [
    { name: "node", type: "uint32" },
    { name: "nonce", type: "string" },
    { name: "at", type: "uint64" },
  ],
} as const;

export interface ProbeResponse {
  node: number;
  nonce: string;
  at: number;
  signature: string;
}

export interface BucketUsage {
  bucket: string;
  storedBytes: string;
  servedBytes: string;
  requests: string;
  objects: number;
  /** 0x + 64 hex */
  manifestRoot: string;
}

export interface UsageRecord {
  node: number;
  cluster: number;
  era: number;
  buckets: BucketUsage[];
  signature: string;
}
