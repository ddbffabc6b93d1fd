import { ed25519 } from "@noble/curves/ed25519";
import { keccak256, toUtf8Bytes, hexlify, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import { HEADER, SESSION_TYPES, b64url, canonicalRequest, type SessionToken } from "../src/protocol";

// The client's side of the protocol's signatures and of the ring's placement, kept free of Node
// built-ins so that the browser bundle carries it. The node checks the same strings: a change here
// is a protocol change.

/** An ed25519 key a wallet delegates to: `publicKey` is what the session names (bytes32 hex). */
export interface SessionKey {
  privateKey: Uint8Array;
  publicKey: string;
}

/** A fresh session key from the platform's random source. */
export function newSessionKey(): SessionKey {
  const privateKey = ed25519.utils.randomPrivateKey();
  return { privateKey, publicKey: hexlify(ed25519.getPublicKey(privateKey)) };
}

export type AppSession = Extract<SessionToken, { kind: "app" }>;

/** The wallet's one signature: session key `sessionKey` may do `operations` on `bucket` until `expiry`. */
export async function signAppSession(
  signer: Signer,
  domain: TypedDataDomain,
  s: { bucket: bigint | string; sessionKey: string; operations: number; expiry: number },
): Promise<AppSession> {
  const value = { bucket: BigInt(s.bucket), sessionKey: s.sessionKey, operations: s.operations, expiry: s.expiry };
  const signature = await signer.signTypedData(
    domain,
    SESSION_TYPES as unknown as Record<string, TypedDataField[]>,
    value,
  );
  return {
    kind: "app",
    bucket: BigInt(s.bucket).toString(),
    sessionKey: s.sessionKey,
    operations: s.operations,
    expiry: s.expiry,
    signature,
  };
}

/** The token as it travels in `x-ddc-session`: JSON, base64url. */
export function encodeSessionToken(token: SessionToken): string {
  return b64url(toUtf8Bytes(JSON.stringify(token)));
}

/** A random nonce (16 bytes, base64url): writes and deletes carry one. */
export function newNonce(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

/** The headers that authorise one request: the session token and the session key's signature. */
export function signRequest(r: {
  privateKey: Uint8Array;
  sessionToken: SessionToken | string;
  method: string;
  target: string;
  bodySha256: string;
  expires: number;
  nonce?: string;
}): Record<string, string> {
  const canonical = canonicalRequest(r);
  const headers: Record<string, string> = {
    [HEADER.session]: typeof r.sessionToken === "string" ? r.sessionToken : encodeSessionToken(r.sessionToken),
    [HEADER.signature]: b64url(ed25519.sign(toUtf8Bytes(canonical), r.privateKey)),
    [HEADER.expires]: String(r.expires),
    [HEADER.contentSha256]: r.bodySha256.toLowerCase(),
  };
  if (r.nonce !== undefined) headers[HEADER.nonce] = r.nonce;
  return headers;
}

/** A cluster's ring: vNode tokens, ascending, and the node of each. */
export interface Ring {
  tokens: bigint[];
  nodes: number[];
}

/** Sorts a ring as the core's lens does (by token). */
export function sortRing(tokens: readonly bigint[], nodes: readonly number[]): Ring {
  const order = tokens.map((_, i) => i).sort((a, b) => (tokens[a] < tokens[b] ? -1 : tokens[a] > tokens[b] ? 1 : 0));
  return { tokens: order.map((i) => tokens[i]), nodes: order.map((i) => nodes[i]) };
}

/** A key's ring position: the top 64 bits of keccak256(key) (DDCLens.keyToken). */
export function keyToken(key: string): bigint {
  return BigInt(keccak256(toUtf8Bytes(key))) >> 192n;
}

/**
 * The nodes holding `key`, the primary first: the node of the first vNode at or after the key's
 * token (wrapping around), then the next distinct nodes, `rf` in all but never more than
 * `distinctNodes` (DDCLens.nodesForKey).
 */
export function replicasFor(ring: Ring, rf: number, distinctNodes: number, key: string): number[] {
  const want = Math.min(rf, distinctNodes);
  const n = ring.tokens.length;
  const holders: number[] = [];
  if (n === 0) return holders;
  const t = keyToken(key);
  let start = 0;
  while (start < n && ring.tokens[start] < t) ++start;
  for (let step = 0; step < n && holders.length < want; ++step) {
    const candidate = ring.nodes[(start + step) % n];
    if (!holders.includes(candidate)) holders.push(candidate);
  }
  return holders;
}
