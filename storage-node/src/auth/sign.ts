import { ed25519 } from "@noble/curves/ed25519";
import {
  decodeBase64,
  encodeBase64,
  hexlify,
  randomBytes,
  toUtf8Bytes,
  toUtf8String,
  type Signer,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import { z } from "zod";
import {
  EMPTY_SHA256,
  HEADER,
  NODE_SESSION_TYPES,
  SESSION_TYPES,
  VALIDATOR_SESSION_TYPES,
  canonicalRequest,
  type SessionToken,
} from "../protocol";

/**
 * What a client does to talk to a node: make a session key, have a wallet sign a session for it
 * (EIP-712, once), then sign each request with the session key (ed25519). Isomorphic: ethers,
 * @noble and zod only, no Node-only API, so the browser bundle uses it as it is.
 */

/** An ed25519 key pair, raw: a 32-byte seed and a 32-byte public key. */
export interface SessionKeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A fresh session key. Keep `privateKey` in memory only: it signs requests until the session expires. */
export function newSessionKey(): SessionKeyPair {
  const privateKey = ed25519.utils.randomPrivateKey();
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

/** The EIP-712 types, as ethers takes them (mutable arrays). */
const types = (t: Readonly<Record<string, readonly TypedDataField[]>>): Record<string, TypedDataField[]> =>
  Object.fromEntries(Object.entries(t).map(([name, fields]) => [name, fields.map((f) => ({ ...f }))]));
export const APP_TYPES = types(SESSION_TYPES);
export const NODE_TYPES = types(NODE_SESSION_TYPES);
export const VALIDATOR_TYPES = types(VALIDATOR_SESSION_TYPES);

/** A session key as a session carries it: bytes32 hex. */
function keyHex(publicKey: Uint8Array | string): string {
  const hex = typeof publicKey === "string" ? publicKey.toLowerCase() : hexlify(publicKey);
  if (!/^0x[0-9a-f]{64}$/.test(hex)) throw new Error("sessionKey: expected 32 bytes");
  return hex;
}

/** Unix seconds now, the default `issuedAt` of a session. */
const nowS = () => Math.floor(Date.now() / 1000);

/**
 * An app session: `signer` (the bucket's owner, or an account holding a role on it) lets
 * `sessionKey` do `operations` (a bit set of `Op`) on `bucket` from `issuedAt` (unix seconds, now
 * unless given) until `expiry` (at most `MAX_SESSION_TTL_S` later). `domain` is
 * `storageDomain(chainId, core)`.
 */
export async function signAppSession(
  signer: Signer,
  domain: TypedDataDomain,
  s: { bucket: bigint; sessionKey: Uint8Array | string; operations: number; issuedAt?: number; expiry: number },
): Promise<SessionToken> {
  const sessionKey = keyHex(s.sessionKey);
  const issuedAt = s.issuedAt ?? nowS();
  const value = { bucket: s.bucket, sessionKey, operations: s.operations, issuedAt, expiry: s.expiry };
  const signature = await signer.signTypedData(domain, APP_TYPES, value);
  return {
    kind: "app",
    bucket: s.bucket.toString(),
    sessionKey,
    operations: s.operations,
    issuedAt,
    expiry: s.expiry,
    signature,
  };
}

/** A peer node's session, signed by the node's registered signing key. */
export async function signNodeSession(
  signer: Signer,
  domain: TypedDataDomain,
  s: { node: number; sessionKey: Uint8Array | string; issuedAt?: number; expiry: number },
): Promise<SessionToken> {
  const sessionKey = keyHex(s.sessionKey);
  const issuedAt = s.issuedAt ?? nowS();
  const value = { node: s.node, sessionKey, issuedAt, expiry: s.expiry };
  const signature = await signer.signTypedData(domain, NODE_TYPES, value);
  return { kind: "node", node: s.node, sessionKey, issuedAt, expiry: s.expiry, signature };
}

/** A validator's session, signed by one of the cluster's validators. */
export async function signValidatorSession(
  signer: Signer,
  domain: TypedDataDomain,
  s: { cluster: number; sessionKey: Uint8Array | string; issuedAt?: number; expiry: number },
): Promise<SessionToken> {
  const sessionKey = keyHex(s.sessionKey);
  const issuedAt = s.issuedAt ?? nowS();
  const value = { cluster: s.cluster, sessionKey, issuedAt, expiry: s.expiry };
  const signature = await signer.signTypedData(domain, VALIDATOR_TYPES, value);
  return { kind: "validator", cluster: s.cluster, sessionKey, issuedAt, expiry: s.expiry, signature };
}

/** Base64url without padding, from bytes. */
export function toBase64url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Bytes from base64url (padding optional); throws on any other character. */
export function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new Error("not base64url");
  const plain = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  return decodeBase64(plain + "=".repeat((4 - (plain.length % 4)) % 4));
}

/** A session token as it travels in `x-ddc-session`: base64url of its JSON. */
export function encodeSessionToken(t: SessionToken): string {
  return toBase64url(toUtf8Bytes(JSON.stringify(t)));
}

/** A malformed session token; the message names the bad field. */
export class SessionTokenError extends Error {
  override name = "SessionTokenError";
}

const UINT32 = 2 ** 32 - 1;
/** Unix seconds: a JSON number is exact up to 2^53, far beyond any expiry. */
const seconds = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,16}$/)
      .transform(Number),
  ])
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));
const id32 = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,10}$/)
      .transform(Number),
  ])
  .pipe(z.number().int().min(1).max(UINT32));
const hex32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "expected 0x and 64 hex digits")
  .transform((s) => s.toLowerCase());
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature, 0x and 130 hex digits");

const TOKEN = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("app"),
    bucket: z
      .union([
        z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).transform(String),
        z.string().regex(/^[1-9]\d{0,19}$/, "expected a decimal bucket id"),
      ])
      .refine((s) => BigInt(s) < 1n << 64n, "bucket id above uint64"),
    sessionKey: hex32,
    operations: z.number().int().min(1).max(15),
    issuedAt: seconds,
    expiry: seconds,
    signature,
  }),
  z.strictObject({
    kind: z.literal("node"),
    node: id32,
    sessionKey: hex32,
    issuedAt: seconds,
    expiry: seconds,
    signature,
  }),
  z.strictObject({
    kind: z.literal("validator"),
    cluster: id32,
    sessionKey: hex32,
    issuedAt: seconds,
    expiry: seconds,
    signature,
  }),
]);

/**
 * A session token from its header value, checked field by field; throws {@link SessionTokenError}
 * naming the first bad field (`session token: expiry: …`). Says nothing of its signature.
 */
export function decodeSessionToken(s: string): SessionToken {
  let json: unknown;
  try {
    json = JSON.parse(toUtf8String(fromBase64url(s)));
  } catch {
    throw new SessionTokenError("session token: not base64url-encoded JSON");
  }
  const parsed = TOKEN.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length > 0 ? issue.path.join(".") : "kind";
    throw new SessionTokenError(`session token: ${field}: ${issue.message}`);
  }
  return parsed.data as SessionToken;
}

/** Whether a request must carry a nonce: anything but GET, HEAD and OPTIONS (writes, deletes, challenges). */
export function needsNonce(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** A fresh request nonce: 16 random bytes, base64url (22 characters). */
export function newNonce(): string {
  return toBase64url(randomBytes(16));
}

/** A header value as it may be signed: printable, no line breaks (the canonical string is line-based). */
const HEADER_VALUE = /^[\x20-\x7e]*$/;

/**
 * The headers that authenticate one request to node `node`: the session token, the session key's
 * ed25519 signature of `canonicalRequest`, the request's expiry (unix seconds, at most
 * `MAX_REQUEST_TTL_S` ahead), a nonce (made up when the method needs one and none is given), when
 * there is a body its SHA-256 (hex), and the signed `content-type` (a PUT's) and `x-ddc-version`
 * when given: send them as returned. `target` is the path and query exactly as they will be sent.
 * A request is signed for one node: sign again for each replica (ed25519 signing is cheap).
 */
export function signRequest(r: {
  privateKey: Uint8Array;
  sessionToken: SessionToken | string;
  /** The id of the node the request is sent to. */
  node: number;
  method: string;
  target: string;
  /** The body's SHA-256, hex; omit for a request without a body. */
  bodySha256?: string;
  /** A PUT's content type, sent as `content-type`. */
  contentType?: string;
  /** The `x-ddc-version` header's value (a peer's replica write or delete). */
  version?: string | bigint;
  expires: number;
  nonce?: string;
  /**
   * Signs the canonical request with the session key (ed25519, 64 bytes); the portable
   * implementation unless given (a Node service passes node:crypto's, many times faster).
   */
  sign?: (message: Uint8Array, privateKey: Uint8Array) => Uint8Array;
}): Record<string, string> {
  const method = r.method.toUpperCase();
  if (!Number.isSafeInteger(r.node) || r.node < 0) throw new Error(`signRequest: node: expected an id, got ${r.node}`);
  if (r.contentType !== undefined && method !== "PUT") {
    throw new Error(`signRequest: contentType: only a PUT signs its content type, not a ${method}`);
  }
  const version = r.version?.toString();
  for (const [name, value] of [
    ["contentType", r.contentType],
    ["version", version],
  ] as const) {
    if (value !== undefined && !HEADER_VALUE.test(value)) {
      throw new Error(`signRequest: ${name}: expected printable ASCII without line breaks`);
    }
  }
  const nonce = r.nonce ?? (needsNonce(method) ? newNonce() : undefined);
  const bodySha256 = (r.bodySha256 ?? EMPTY_SHA256).toLowerCase();
  const message = canonicalRequest({
    node: r.node,
    method,
    target: r.target,
    bodySha256,
    contentType: r.contentType,
    version,
    expires: r.expires,
    nonce,
  });
  const headers: Record<string, string> = {
    [HEADER.session]: typeof r.sessionToken === "string" ? r.sessionToken : encodeSessionToken(r.sessionToken),
    [HEADER.signature]: toBase64url((r.sign ?? ed25519.sign)(toUtf8Bytes(message), r.privateKey)),
    [HEADER.expires]: String(r.expires),
  };
  if (nonce !== undefined) headers[HEADER.nonce] = nonce;
  if (r.bodySha256 !== undefined) headers[HEADER.contentSha256] = bodySha256;
  if (r.contentType !== undefined && r.contentType !== "") headers["content-type"] = r.contentType;
  if (version !== undefined && version !== "") headers[HEADER.version] = version;
  return headers;
}
