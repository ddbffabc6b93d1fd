import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { getAddress, getBytes, verifyTypedData, type TypedDataDomain } from "ethers";
import {
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  MAX_REQUEST_TTL_S,
  MAX_SESSION_TTL_S,
  Op,
  canonicalRequest,
  type ErrorCodeName,
  type SessionToken,
} from "../protocol";
import { BucketRole, BucketStatus, type BucketInfo, type ChainView, type ClusterInfo } from "../chain";
import { NodeError } from "./errors";
import { Lru } from "./lru";
import { APP_TYPES, NODE_TYPES, VALIDATOR_TYPES, decodeSessionToken, fromBase64url, needsNonce } from "./sign";

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
  /** This node's id. */
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
}

/** A verified session: who signed it, and its key ready for ed25519. */
interface Verified {
  token: SessionToken;
  /** The EIP-712 signer, undefined if the signature could not be recovered at all. */
  signer?: string;
  key?: KeyObject;
}

/** The DER prefix of an ed25519 SubjectPublicKeyInfo: a raw 32-byte key follows it. */
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex");
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const OP_BIT: Record<Operation, number> = { read: Op.Read, write: Op.Write, delete: Op.Delete, list: Op.List };

const unauthenticated = (message: string) => new AuthError(401, ErrorCode.Unauthenticated, message);

/**
 * Authenticates requests (who sent it) and authorises them (may it do this here), for one node.
 *
 * A session token's EIP-712 signature is recovered once and the result kept (bounded LRU keyed by
 * the token, until the token expires); each request's ed25519 signature is checked with the
 * session's cached key. Chain facts (roles, statuses, membership, keys) come from the
 * {@link ChainView}, itself cached and invalidated by the core's events.
 */
export class RequestAuthenticator {
  private readonly chain: ChainView;
  private readonly domain: TypedDataDomain;
  private readonly nodeId: number;
  private readonly seenNonce: AuthenticatorOptions["seenNonce"];
  private readonly now: () => number;
  private readonly sessions: Lru<string, Verified>;

  constructor(options: AuthenticatorOptions) {
    this.chain = options.chain;
    this.domain = options.domain;
    this.nodeId = options.nodeId;
    this.seenNonce = options.seenNonce;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.sessions = new Lru(options.maxSessions ?? 10_000);
  }

  /** How many verified sessions are cached. */
  get cachedSessions(): number {
    return this.sessions.size;
  }

  /**
   * Who sent the request, or {@link AuthError}. Checks, in order: the headers are there and well
   * formed (401 unauthenticated); the session has not expired (401 session-expired) and lasts at
   * most `MAX_SESSION_TTL_S` (401 unauthenticated); the request has not expired and expires at most
   * `MAX_REQUEST_TTL_S` ahead (401 request-expired); the session's and the request's signatures
   * (401 bad-signature; a node session must be signed by the node's registered key, a validator
   * session by one of the cluster's validators); a write, delete or other non-GET/HEAD request
   * carries a nonce (401 unauthenticated) not seen before (409 replayed). The nonce is recorded
   * last, so a request refused for any other reason consumes nothing.
   *
   * `bodySha256` is the body's SHA-256 (hex); if omitted, the `x-ddc-content-sha256` header's value,
   * else that of the empty body. `target` is the path and query exactly as received.
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
    const signatureText = header(HEADER.signature, true)!;
    const expiresText = header(HEADER.expires, true)!;
    const nonce = header(HEADER.nonce, false);
    const contentSha256 = header(HEADER.contentSha256, false);
    if (!/^\d{1,15}$/.test(expiresText)) throw unauthenticated(`${HEADER.expires}: expected unix seconds`);
    const expires = Number(expiresText);
    let signature: Uint8Array;
    try {
      signature = fromBase64url(signatureText);
    } catch {
      signature = new Uint8Array(0);
    }
    if (signature.length !== 64) throw unauthenticated(`${HEADER.signature}: expected 64 bytes, base64url`);
    if (nonce !== undefined && !NONCE.test(nonce)) {
      throw unauthenticated(`${HEADER.nonce}: expected 8 to 64 characters of base64url`);
    }
    if (contentSha256 !== undefined && !HEX64.test(contentSha256)) {
      throw unauthenticated(`${HEADER.contentSha256}: expected 64 hex digits`);
    }
    const method = r.method.toUpperCase();
    if (needsNonce(method) && nonce === undefined) throw unauthenticated(`${HEADER.nonce}: a ${method} needs a nonce`);

    const now = this.now();
    const session = this.session(tokenText, now);
    const token = session.token;
    if (token.expiry <= now)
      throw new AuthError(401, ErrorCode.SessionExpired, `the session expired at ${token.expiry}`);
    if (token.expiry - now > MAX_SESSION_TTL_S) {
      throw unauthenticated(`the session lasts longer than ${MAX_SESSION_TTL_S} s (expiry ${token.expiry})`);
    }
    if (expires <= now) throw new AuthError(401, ErrorCode.RequestExpired, `the request expired at ${expires}`);
    if (expires - now > MAX_REQUEST_TTL_S) {
      throw new AuthError(401, ErrorCode.RequestExpired, `the request expires more than ${MAX_REQUEST_TTL_S} s ahead`);
    }
    if (session.signer === undefined || session.key === undefined) {
      throw new AuthError(401, ErrorCode.BadSignature, "the session's signature is not valid");
    }
    const message = canonicalRequest({
      method,
      target: r.target,
      bodySha256: r.bodySha256 ?? contentSha256 ?? EMPTY_SHA256,
      expires,
      nonce,
    });
    let good = false;
    try {
      good = verify(null, Buffer.from(message, "utf8"), session.key, signature);
    } catch {
      good = false;
    }
    if (!good) throw new AuthError(401, ErrorCode.BadSignature, "the request's signature is not the session key's");

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

  /** The token decoded and its EIP-712 signer recovered, from the cache when it was seen before. */
  private session(text: string, now: number): Verified {
    const cached = this.sessions.get(text);
    if (cached !== undefined) {
      if (cached.token.expiry > now) return cached;
      this.sessions.delete(text);
    }
    let token: SessionToken;
    try {
      token = decodeSessionToken(text);
    } catch (error) {
      throw unauthenticated((error as Error).message);
    }
    const verified: Verified = { token };
    try {
      verified.signer = getAddress(recoverSession(this.domain, token));
      const raw = getBytes(token.sessionKey);
      verified.key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: "der", type: "spki" });
    } catch {
      // Not recoverable (a malformed signature) or not a key: kept so, a bad-signature each time.
    }
    // Expired and overlong tokens are refused before their signature counts: not cached.
    if (token.expiry > now && token.expiry - now <= MAX_SESSION_TTL_S) this.sessions.set(text, verified);
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
          expiry: token.expiry,
        },
        token.signature,
      );
    case "node":
      return verifyTypedData(
        domain,
        NODE_TYPES,
        { node: token.node, sessionKey: token.sessionKey, expiry: token.expiry },
        token.signature,
      );
    case "validator":
      return verifyTypedData(
        domain,
        VALIDATOR_TYPES,
        { cluster: token.cluster, sessionKey: token.sessionKey, expiry: token.expiry },
        token.signature,
      );
  }
}
