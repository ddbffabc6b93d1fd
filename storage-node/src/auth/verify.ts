import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { Signature, getAddress, getBytes, verifyTypedData, type TypedDataDomain } from "ethers";
import {
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  MAX_CLOCK_SKEW_S,
  MAX_REQUEST_TTL_S,
  MAX_SESSION_TOKEN_CHARS,
  MAX_SESSION_TTL_S,
  Op,
  canonicalRequest,
  type ErrorCodeName,
  type SessionToken,
} from "../protocol";
import { BucketRole, BucketStatus, type BucketInfo, type ChainView, type ClusterInfo } from "../chain";
import { NodeError } from "./errors";
import { Lru } from "./lru";
import { APP_TYPES, NODE_TYPES, VALIDATOR_TYPES, decodeSessionToken, needsNonce } from "./sign";

export { NodeError } from "./errors";

/** A request the node refuses: `status` is the HTTP status, `code` the protocol's error code. */
export class AuthError extends NodeError {
  override name = "AuthError";

  constructor(status: number, code: ErrorCodeName, message: string) {
    super(status, code, message);
  }
}

/** Who a request comes from, once its session and signature are verified. */
export type Principal =
  | { kind: "app"; bucket: bigint; account: string; operations: number; sessionKey: string }
  | { kind: "node"; node: number; sessionKey: string }
  | { kind: "validator"; cluster: number; account: string; sessionKey: string };

export type Operation = "read" | "write" | "delete" | "list";

/** The bucket and cluster an authorised request acts on, as the chain said. */
export interface Authorization {
  bucket: BucketInfo;
  cluster: ClusterInfo;
}

export interface AuthenticatorOptions {
  chain: ChainView;
  /** `storageDomain(chainId, core)`. */
  domain: TypedDataDomain;
  /** This node's id: the one a request must be signed for. */
  nodeId: number;
  /**
   * Records a nonce and says whether it was already recorded (a replay); the store keeps it until
   * `expires` (unix seconds).
   */
  seenNonce: (sessionKey: string, nonce: string, expires: number, now: number) => boolean;
  /** Unix seconds now (the chain's time in tests). */
  now?: () => number;
  /** The most verified sessions kept: 10,000 unless given. */
  maxSessions?: number;
  /** The most sessions whose EIP-712 signature recovered no one kept: 1,000 unless given. */
  maxRefusedSessions?: number;
  /** The most verified GET/HEAD request signatures kept: 10,000 unless given. */
  maxReads?: number;
  /** The most decoded session tokens kept (by their header text): 10,000 unless given. */
  maxDecodedTokens?: number;
}

/** A verified session: who signed it, and its key ready for ed25519. */
interface Verified {
  token: SessionToken;
  /** The EIP-712 signer. */
  signer: string;
  key: KeyObject;
}

/** How much cryptography the authenticator did: for tests and metrics. */
export interface AuthStats {
  /** EIP-712 recoveries of sessions (the costly step, once per session). */
  recoveries: number;
  /** ed25519 verifications of request signatures. */
  signatureChecks: number;
  /** GET/HEAD requests whose signature was found verified already. */
  readHits: number;
}

/** The DER prefix of an ed25519 SubjectPublicKeyInfo: a raw 32-byte key follows it. */
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex");
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const OP_BIT: Record<Operation, number> = { read: Op.Read, write: Op.Write, delete: Op.Delete, list: Op.List };
/** The order of secp256k1, and half of it: a signature's `s` above the half is folded below it. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const unauthenticated = (message: string) => new AuthError(401, ErrorCode.Unauthenticated, message);
const badSessionSignature = () => new AuthError(401, ErrorCode.BadSignature, "the session's signature is not valid");

/**
 * A session's identity, whatever its encoding: its kind, fields and signature in canonical form
 * (`s` in the lower half, `v` as 27 or 28), so that re-encodings of one token (base64 padding, JSON
 * spacing, field order, decimal strings, a malleated signature) share one cache entry. Undefined if
 * the signature is not a well-formed ECDSA signature at all.
 */
function sessionId(t: SessionToken): string | undefined {
  const sig = t.signature.toLowerCase();
  const r = BigInt("0x" + sig.slice(2, 66));
  let s = BigInt("0x" + sig.slice(66, 130));
  let v: number;
  try {
    v = Signature.getNormalizedV(parseInt(sig.slice(130, 132), 16));
  } catch {
    return undefined;
  }
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N) return undefined;
  if (s > SECP256K1_N / 2n) {
    s = SECP256K1_N - s;
    v = v === 27 ? 28 : 27;
  }
  const who = t.kind === "app" ? `${t.bucket}/${t.operations}` : t.kind === "node" ? t.node : t.cluster;
  return `${t.kind}/${who}/${t.sessionKey}/${t.issuedAt}/${t.expiry}/${r.toString(16)}/${s.toString(16)}/${v}`;
}

/**
 * Authenticates requests (who sent it) and authorises them (may it do this here), for one node.
 *
 * Cheap checks come first (headers, sizes, the session's and the request's times), then the
 * request's ed25519 signature — the session key is in the token — and only then, for a session not
 * seen before, the EIP-712 recovery of the session's signer. Verified sessions are kept in a
 * bounded LRU keyed by their canonical fields and signature (not the token's text); sessions whose
 * recovery failed in a smaller one; verified GET/HEAD request signatures in a third, so that a
 * signed read repeated as it is (a presigned URL) costs no ed25519 verification; and decoded
 * tokens by their header text, so that a session's requests decode and check its token once. Chain facts
 * (roles, statuses, membership, keys) come from the {@link ChainView}, itself cached and
 * invalidated by the core's events.
 */
export class RequestAuthenticator {
  private readonly chain: ChainView;
  private readonly domain: TypedDataDomain;
  private readonly nodeId: number;
  private readonly seenNonce: AuthenticatorOptions["seenNonce"];
  private readonly now: () => number;
  private readonly sessions: Lru<string, Verified>;
  private readonly refused: Lru<string, true>;
  private readonly reads: Lru<string, true>;
  /** Session tokens decoded from their header text, with their canonical id (a pure function of the text). */
  private readonly decoded: Lru<string, { token: SessionToken; id: string | undefined }>;
  readonly stats: AuthStats = { recoveries: 0, signatureChecks: 0, readHits: 0 };

  constructor(options: AuthenticatorOptions) {
    this.chain = options.chain;
    this.domain = options.domain;
    this.nodeId = options.nodeId;
    this.seenNonce = options.seenNonce;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.sessions = new Lru(options.maxSessions ?? 10_000);
    this.refused = new Lru(options.maxRefusedSessions ?? 1_000);
    this.reads = new Lru(options.maxReads ?? 10_000);
    this.decoded = new Lru(options.maxDecodedTokens ?? 10_000);
  }

  /** How many verified sessions are cached. */
  get cachedSessions(): number {
    return this.sessions.size;
  }

  /** How many sessions whose signature recovered no one are cached. */
  get cachedRefusedSessions(): number {
    return this.refused.size;
  }

  /** How many verified GET/HEAD request signatures are cached. */
  get cachedReads(): number {
    return this.reads.size;
  }

  /**
   * Who sent the request, or {@link AuthError}. Checks, in order, cheapest first:
   * 1. the headers are there and well formed, the token at most `MAX_SESSION_TOKEN_CHARS` long and
   *    decodable (401 unauthenticated); a method other than GET/HEAD/OPTIONS carries a nonce (401
   *    unauthenticated);
   * 2. the session: not issued more than `MAX_CLOCK_SKEW_S` ahead (401 unauthenticated), not expired
   *    (401 session-expired), at most `MAX_SESSION_TTL_S` from `issuedAt` to `expiry` (401
   *    unauthenticated);
   * 3. the request has not expired and expires at most `MAX_REQUEST_TTL_S` ahead (401
   *    request-expired);
   * 4. a session whose signature recovered no one before (401 bad-signature, from the cache);
   * 5. the request's ed25519 signature by the token's session key over the canonical string with
   *    this node's id — a request signed for another node, or altered, fails here (401
   *    bad-signature); a GET/HEAD signature verified before is not verified again;
   * 6. the session's EIP-712 signature, once per session (401 bad-signature); a node session must be
   *    signed by the node's registered key, a validator session by one of the cluster's validators;
   * 7. the nonce, if any, was not seen before (409 replayed). It is recorded last, so a request
   *    refused for any other reason consumes nothing.
   *
   * `bodySha256` is the body's SHA-256 (hex); if omitted, the `x-ddc-content-sha256` header's value,
   * else that of the empty body. `target` is the path and query exactly as received. The node id,
   * a PUT's `content-type` and `x-ddc-version` are signed too (`canonicalRequest`).
   */
  async authenticate(r: {
    method: string;
    target: string;
    headers: Record<string, string | string[] | undefined>;
    bodySha256?: string;
  }): Promise<Principal> {
    const header = (name: string, required: boolean): string | undefined => {
      const value = r.headers[name];
      if (Array.isArray(value)) throw unauthenticated(`${name}: the header appears more than once`);
      if (value === undefined || value === "") {
        if (required) throw unauthenticated(`${name}: the header is missing`);
        return undefined;
      }
      return value;
    };
    const tokenText = header(HEADER.session, true)!;
    if (tokenText.length > MAX_SESSION_TOKEN_CHARS) {
      throw unauthenticated(`${HEADER.session}: longer than ${MAX_SESSION_TOKEN_CHARS} characters`);
    }
    const signatureText = header(HEADER.signature, true)!;
    const expiresText = header(HEADER.expires, true)!;
    const nonce = header(HEADER.nonce, false);
    const contentSha256 = header(HEADER.contentSha256, false);
    const method = r.method.toUpperCase();
    const version = header(HEADER.version, false);
    const contentType = method === "PUT" ? header("content-type", false) : undefined;
    if (!/^\d{1,15}$/.test(expiresText)) throw unauthenticated(`${HEADER.expires}: expected unix seconds`);
    const expires = Number(expiresText);
    // The alphabet checked as fromBase64url checks it; node's decoder then (the hot path, no copies).
    const signature: Uint8Array = BASE64URL.test(signatureText)
      ? Buffer.from(signatureText.replace(/=+$/, ""), "base64url")
      : new Uint8Array(0);
    if (signature.length !== 64) throw unauthenticated(`${HEADER.signature}: expected 64 bytes, base64url`);
    if (nonce !== undefined && !NONCE.test(nonce)) {
      throw unauthenticated(`${HEADER.nonce}: expected 8 to 64 characters of base64url`);
    }
    if (contentSha256 !== undefined && !HEX64.test(contentSha256)) {
      throw unauthenticated(`${HEADER.contentSha256}: expected 64 hex digits`);
    }
    if (needsNonce(method) && nonce === undefined) throw unauthenticated(`${HEADER.nonce}: a ${method} needs a nonce`);
    // A session's requests carry the same token text: it is decoded and checked field by field once.
    let decoded = this.decoded.get(tokenText);
    if (decoded === undefined) {
      let t: SessionToken;
      try {
        t = decodeSessionToken(tokenText);
      } catch (error) {
        throw unauthenticated((error as Error).message);
      }
      decoded = { token: t, id: sessionId(t) };
      this.decoded.set(tokenText, decoded);
    }
    const { token, id } = decoded;

    const now = this.now();
    if (token.issuedAt > now + MAX_CLOCK_SKEW_S) {
      throw unauthenticated(`the session is issued at ${token.issuedAt}, ahead of the node's clock (${now})`);
    }
    if (token.expiry <= now)
      throw new AuthError(401, ErrorCode.SessionExpired, `the session expired at ${token.expiry}`);
    if (token.expiry - token.issuedAt > MAX_SESSION_TTL_S) {
      throw unauthenticated(
        `the session lasts longer than ${MAX_SESSION_TTL_S} s (issued at ${token.issuedAt}, expiry ${token.expiry})`,
      );
    }
    if (expires <= now) throw new AuthError(401, ErrorCode.RequestExpired, `the request expired at ${expires}`);
    if (expires - now > MAX_REQUEST_TTL_S) {
      throw new AuthError(401, ErrorCode.RequestExpired, `the request expires more than ${MAX_REQUEST_TTL_S} s ahead`);
    }
    if (id === undefined || this.refused.get(id) !== undefined) throw badSessionSignature();
    let session = this.sessions.get(id);
    const key = session?.key ?? sessionKeyObject(token.sessionKey);
    if (key === undefined) throw badSessionSignature();

    const message = canonicalRequest({
      node: this.nodeId,
      method,
      target: r.target,
      bodySha256: r.bodySha256 ?? contentSha256 ?? EMPTY_SHA256,
      contentType,
      version,
      expires,
      nonce,
    });
    this.checkRequestSignature(method, token.sessionKey, key, message, signature);
    session ??= this.recover(id, token, key);

    const principal = await this.principal(token, session.signer);
    if (nonce !== undefined && this.seenNonce(token.sessionKey, nonce, expires, now)) {
      throw new AuthError(409, ErrorCode.Replayed, `nonce ${nonce} was already used by this session`);
    }
    return principal;
  }

  /**
   * Whether `principal` may do `op` on `bucket` here, or {@link AuthError}. For an app, in order:
   * the session's bucket is the request's (403 wrong-bucket); the session allows the operation
   * (403 forbidden); the bucket exists (404 not-found); the signer owns it or holds the role —
   * Writer for write and delete, Reader or Writer for read and list (403 forbidden); its cluster
   * holds this node (421 not-in-cluster); its status: Active allows everything, InArrears reads and
   * lists (402 bucket-in-arrears), Suspended nothing (402 bucket-suspended), Closed nothing (410
   * bucket-closed). A peer node may do anything on a bucket of a cluster holding both nodes (403
   * forbidden otherwise) unless the bucket is closed; a validator only challenges
   * ({@link authorizeChallenge}).
   */
  async authorize(
    principal: Principal,
    r: { op: Operation; bucket: bigint; key?: string; size?: number },
  ): Promise<Authorization> {
    if (principal.kind === "validator") {
      throw new AuthError(403, ErrorCode.Forbidden, "a validator session may only send challenges");
    }
    if (principal.kind === "app") {
      if (principal.bucket !== r.bucket) {
        throw new AuthError(
          403,
          ErrorCode.WrongBucket,
          `the session is for bucket ${principal.bucket}, not ${r.bucket}`,
        );
      }
      if ((principal.operations & OP_BIT[r.op]) === 0) {
        throw new AuthError(403, ErrorCode.Forbidden, `the session does not allow ${r.op}`);
      }
    }
    const bucket = await this.chain.bucket(r.bucket);
    if (bucket === undefined) throw new AuthError(404, ErrorCode.NotFound, `bucket ${r.bucket} does not exist`);
    if (principal.kind === "app" && principal.account !== bucket.owner) {
      const writer = await this.chain.hasRole(r.bucket, principal.account, BucketRole.Writer);
      const allowed =
        r.op === "write" || r.op === "delete"
          ? writer
          : writer || (await this.chain.hasRole(r.bucket, principal.account, BucketRole.Reader));
      if (!allowed) {
        const role = r.op === "write" || r.op === "delete" ? "Writer" : "Reader";
        throw new AuthError(
          403,
          ErrorCode.Forbidden,
          `${principal.account} neither owns bucket ${r.bucket} nor holds its ${role} role`,
        );
      }
    }
    const cluster = await this.clusterOf(bucket);
    if (principal.kind === "node" && !cluster.nodes.includes(principal.node)) {
      throw new AuthError(403, ErrorCode.Forbidden, `node ${principal.node} is not in cluster ${cluster.id}`);
    }
    const reading = r.op === "read" || r.op === "list";
    switch (bucket.status) {
      case BucketStatus.Active:
        break;
      case BucketStatus.InArrears:
        if (!reading && principal.kind === "app") {
          throw new AuthError(402, ErrorCode.BucketInArrears, `bucket ${r.bucket} is in arrears: read only`);
        }
        break;
      case BucketStatus.Suspended:
        if (principal.kind === "app") {
          throw new AuthError(402, ErrorCode.BucketSuspended, `bucket ${r.bucket} is suspended`);
        }
        break;
      default:
        throw new AuthError(410, ErrorCode.BucketClosed, `bucket ${r.bucket} is closed`);
    }
    return { bucket, cluster };
  }

  /**
   * Whether `principal` may challenge this node: a validator of a cluster holding this node (403
   * forbidden for other principals, 421 not-in-cluster), and with `bucket`, a bucket of that
   * cluster (404 not-found, 403 wrong-bucket).
   */
  async authorizeChallenge(principal: Principal, bucket?: bigint): Promise<ClusterInfo> {
    if (principal.kind !== "validator") {
      throw new AuthError(403, ErrorCode.Forbidden, "only a validator session may send challenges");
    }
    const cluster = await this.chain.cluster(principal.cluster);
    if (cluster === undefined || !cluster.nodes.includes(this.nodeId)) {
      throw new AuthError(421, ErrorCode.NotInCluster, `node ${this.nodeId} is not in cluster ${principal.cluster}`);
    }
    if (bucket !== undefined) {
      const b = await this.chain.bucket(bucket);
      if (b === undefined) throw new AuthError(404, ErrorCode.NotFound, `bucket ${bucket} does not exist`);
      if (b.cluster !== principal.cluster) {
        throw new AuthError(403, ErrorCode.WrongBucket, `bucket ${bucket} is not in cluster ${principal.cluster}`);
      }
    }
    return cluster;
  }

  /** The most bytes the bucket may be billed for: its cap × its cluster's unit size (404 if unknown). */
  async capBytes(bucket: bigint): Promise<bigint> {
    const b = await this.chain.bucket(bucket);
    if (b === undefined) throw new AuthError(404, ErrorCode.NotFound, `bucket ${bucket} does not exist`);
    const cluster = await this.chain.cluster(b.cluster);
    if (cluster === undefined) throw new AuthError(404, ErrorCode.NotFound, `cluster ${b.cluster} does not exist`);
    return b.cap * cluster.unitSize;
  }

  /** The bucket's cluster, which must hold this node (421 not-in-cluster). */
  private async clusterOf(bucket: BucketInfo): Promise<ClusterInfo> {
    const cluster = await this.chain.cluster(bucket.cluster);
    if (cluster === undefined || !cluster.nodes.includes(this.nodeId)) {
      throw new AuthError(
        421,
        ErrorCode.NotInCluster,
        `bucket ${bucket.id} is in cluster ${bucket.cluster}, which does not hold node ${this.nodeId}`,
      );
    }
    return cluster;
  }

  /**
   * The request's ed25519 signature, or 401 bad-signature. A GET or HEAD (no nonce, nothing
   * changes) whose exact signature over the exact canonical string by the same key was verified
   * before is taken from the cache: a signed read is a capability until it expires, repeated or not.
   * Writes and deletes are never cached (their nonce makes each one new anyway).
   */
  private checkRequestSignature(
    method: string,
    sessionKey: string,
    key: KeyObject,
    message: string,
    signature: Uint8Array,
  ): void {
    const cacheable = method === "GET" || method === "HEAD";
    const readId = cacheable
      ? Buffer.from(signature).toString("base64") +
        createHash("sha256").update(sessionKey).update("\n").update(message).digest("base64")
      : undefined;
    if (readId !== undefined && this.reads.get(readId) !== undefined) {
      this.stats.readHits++;
      return;
    }
    let good = false;
    this.stats.signatureChecks++;
    try {
      good = verify(null, Buffer.from(message, "utf8"), key, signature);
    } catch {
      good = false;
    }
    if (!good) {
      throw new AuthError(
        401,
        ErrorCode.BadSignature,
        `the request's signature is not the session key's over this request to node ${this.nodeId}` +
          " (signed for another node, or altered)",
      );
    }
    if (readId !== undefined) this.reads.set(readId, true);
  }

  /** The session's EIP-712 signer, recovered and cached; a failure is cached too (401 bad-signature). */
  private recover(id: string, token: SessionToken, key: KeyObject): Verified {
    this.stats.recoveries++;
    let signer: string;
    try {
      signer = getAddress(recoverSession(this.domain, token));
    } catch {
      this.refused.set(id, true);
      throw badSessionSignature();
    }
    const verified: Verified = { token, signer, key };
    this.sessions.set(id, verified);
    return verified;
  }

  /** The principal a verified session stands for; node and validator signers are checked on chain. */
  private async principal(token: SessionToken, signer: string): Promise<Principal> {
    switch (token.kind) {
      case "app":
        return {
          kind: "app",
          bucket: BigInt(token.bucket),
          account: signer,
          operations: token.operations,
          sessionKey: token.sessionKey,
        };
      case "node": {
        const node = await this.chain.node(token.node);
        if (node === undefined || node.signingKey !== signer) {
          throw new AuthError(401, ErrorCode.BadSignature, `the session is not signed by node ${token.node}'s key`);
        }
        return { kind: "node", node: token.node, sessionKey: token.sessionKey };
      }
      case "validator": {
        const cluster = await this.chain.cluster(token.cluster);
        if (cluster === undefined || !cluster.validators.includes(signer)) {
          throw new AuthError(
            401,
            ErrorCode.BadSignature,
            `the session is not signed by a validator of cluster ${token.cluster}`,
          );
        }
        return { kind: "validator", cluster: token.cluster, account: signer, sessionKey: token.sessionKey };
      }
    }
  }
}

/** The EIP-712 signer of a session token. */
export function recoverSession(domain: TypedDataDomain, token: SessionToken): string {
  switch (token.kind) {
    case "app":
      return verifyTypedData(
        domain,
        APP_TYPES,
        {
          bucket: BigInt(token.bucket),
          sessionKey: token.sessionKey,
          operations: token.operations,
          issuedAt: token.issuedAt,
          expiry: token.expiry,
        },
        token.signature,
      );
    case "node":
      return verifyTypedData(
        domain,
        NODE_TYPES,
        { node: token.node, sessionKey: token.sessionKey, issuedAt: token.issuedAt, expiry: token.expiry },
        token.signature,
      );
    case "validator":
      return verifyTypedData(
        domain,
        VALIDATOR_TYPES,
        { cluster: token.cluster, sessionKey: token.sessionKey, issuedAt: token.issuedAt, expiry: token.expiry },
        token.signature,
      );
  }
}

/** The session key as node:crypto verifies with it; undefined if it is not an ed25519 public key. */
function sessionKeyObject(sessionKey: string): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI, getBytes(sessionKey)]), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
}
