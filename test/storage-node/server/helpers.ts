import { createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { createHash } from "node:crypto";
import { verifyTypedData, type Signer, type TypedDataDomain } from "ethers";
import type { IDDC } from "../../../typechain-types";
import type { Authenticator, Operation, Principal } from "../../../storage-node/src/ports";
import {
  EMPTY_SHA256,
  HEADER,
  Op,
  SESSION_TYPES,
  VALIDATOR_SESSION_TYPES,
  canonicalRequest,
  type SessionToken,
} from "../../../storage-node/src/protocol";
import { eip712 } from "../../../storage-node/src/server";

/**
 * Request signing and a minimal request authenticator, following protocol.ts, for the server's
 * tests: the session token (EIP-712 by the wallet), the request signature (ed25519 by the session
 * key) over the canonical string, a replay window for nonces, the bucket's status and roles read
 * from the core.
 */

export interface SessionKey {
  privateKey: KeyObject;
  /** 0x + 64 hex: the raw ed25519 public key. */
  publicHex: string;
}

export function newSessionKey(): SessionKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return { privateKey, publicHex: `0x${raw.toString("hex")}` };
}

export async function appSession(
  wallet: Signer,
  domain: TypedDataDomain,
  o: { bucket: bigint; key: SessionKey; operations: number; expiry: number },
): Promise<string> {
  const issuedAt = o.expiry - 3600;
  const value = { bucket: o.bucket, sessionKey: o.key.publicHex, operations: o.operations, issuedAt, expiry: o.expiry };
  const signature = await wallet.signTypedData(domain, eip712(SESSION_TYPES), value);
  const token: SessionToken = {
    kind: "app",
    bucket: o.bucket.toString(),
    sessionKey: o.key.publicHex,
    operations: o.operations,
    issuedAt,
    expiry: o.expiry,
    signature,
  };
  return b64url(Buffer.from(JSON.stringify(token)));
}

export async function validatorSession(
  wallet: Signer,
  domain: TypedDataDomain,
  o: { cluster: number; key: SessionKey; expiry: number },
): Promise<string> {
  const issuedAt = o.expiry - 3600;
  const value = { cluster: o.cluster, sessionKey: o.key.publicHex, issuedAt, expiry: o.expiry };
  const signature = await wallet.signTypedData(domain, eip712(VALIDATOR_SESSION_TYPES), value);
  const token: SessionToken = {
    kind: "validator",
    cluster: o.cluster,
    sessionKey: o.key.publicHex,
    issuedAt,
    expiry: o.expiry,
    signature,
  };
  return b64url(Buffer.from(JSON.stringify(token)));
}

let nonces = 0;

/**
 * The headers of a signed request to node `node` (1 unless given). The test authenticator does not
 * bind a PUT's content type (the server's tests set it freely), so none is signed here.
 */
export function signRequest(
  session: string,
  key: SessionKey,
  r: { method: string; target: string; body?: Buffer | string; expires: number; nonce?: boolean; node?: number },
): Record<string, string> {
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  const bodySha256 = body === undefined ? EMPTY_SHA256 : createHash("sha256").update(body).digest("hex");
  const nonce = r.nonce === false ? undefined : `n${++nonces}-${Date.now()}`;
  const canonical = canonicalRequest({
    node: r.node ?? 1,
    method: r.method,
    target: r.target,
    bodySha256,
    expires: r.expires,
    nonce,
  });
  const headers: Record<string, string> = {
    [HEADER.session]: session,
    [HEADER.signature]: b64url(edSign(null, Buffer.from(canonical), key.privateKey)),
    [HEADER.expires]: String(r.expires),
  };
  if (nonce !== undefined) headers[HEADER.nonce] = nonce;
  if (body !== undefined && r.method !== "POST") headers[HEADER.contentSha256] = bodySha256;
  return headers;
}

class TestAuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const OPS: Record<Operation, number> = { read: Op.Read, write: Op.Write, delete: Op.Delete, list: Op.List };

export class TestAuthenticator implements Authenticator {
  private readonly seen = new Map<string, number>();
  readonly caps = new Map<bigint, bigint>();

  constructor(
    private readonly ddc: IDDC,
    private readonly domain: TypedDataDomain,
    private readonly clock: () => number,
    private readonly cluster: number,
    /** The node requests are signed for. */
    private readonly node = 1,
  ) {}

  async authenticate(r: {
    method: string;
    target: string;
    headers: Record<string, string | string[] | undefined>;
    bodySha256: string;
  }): Promise<Principal> {
    const h = (n: string) => (typeof r.headers[n] === "string" ? (r.headers[n] as string) : undefined);
    const raw = h(HEADER.session);
    const sig = h(HEADER.signature);
    const expires = Number(h(HEADER.expires));
    if (raw === undefined || sig === undefined)
      throw new TestAuthError(401, "unauthenticated", "no session or signature");
    let token: SessionToken;
    try {
      token = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as SessionToken;
    } catch {
      throw new TestAuthError(401, "unauthenticated", "the session token is not base64url JSON");
    }
    const now = Math.floor(this.clock() / 1000);
    if (token.expiry <= now) throw new TestAuthError(401, "session-expired", "the session expired");
    if (!(expires > now)) throw new TestAuthError(401, "request-expired", "the request expired");
    const nonce = h(HEADER.nonce);
    const canonical = canonicalRequest({
      node: this.node,
      method: r.method,
      target: r.target,
      bodySha256: r.bodySha256,
      version: h(HEADER.version),
      expires,
      nonce,
    });
    const pub = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(token.sessionKey.slice(2), "hex").toString("base64url") },
      format: "jwk",
    });
    if (!edVerify(null, Buffer.from(canonical), pub, Buffer.from(sig, "base64url"))) {
      throw new TestAuthError(401, "bad-signature", "the request signature does not verify");
    }
    if (r.method !== "GET" && r.method !== "HEAD") {
      if (nonce === undefined) throw new TestAuthError(400, "bad-request", "a write needs a nonce");
      const k = `${token.sessionKey}:${nonce}`;
      if (this.seen.has(k)) throw new TestAuthError(409, "replayed", "this request was already received");
      this.seen.set(k, expires);
    }
    if (token.kind === "app") {
      const value = {
        bucket: BigInt(token.bucket),
        sessionKey: token.sessionKey,
        operations: token.operations,
        issuedAt: token.issuedAt,
        expiry: token.expiry,
      };
      const account = verifyTypedData(this.domain, eip712(SESSION_TYPES), value, token.signature);
      return {
        kind: "app",
        bucket: BigInt(token.bucket),
        account,
        operations: token.operations,
        sessionKey: token.sessionKey,
      };
    }
    if (token.kind === "validator") {
      const value = {
        cluster: token.cluster,
        sessionKey: token.sessionKey,
        issuedAt: token.issuedAt,
        expiry: token.expiry,
      };
      const account = verifyTypedData(this.domain, eip712(VALIDATOR_SESSION_TYPES), value, token.signature);
      const validators = await this.ddc.clusterValidators(token.cluster);
      if (!validators.includes(account)) throw new TestAuthError(403, "forbidden", "not a validator of the cluster");
      return { kind: "validator", cluster: token.cluster, account };
    }
    throw new TestAuthError(401, "unauthenticated", "unsupported session kind");
  }

  async authorize(p: Principal, r: { op: Operation; bucket: bigint; key?: string }): Promise<void> {
    if (p.kind !== "app") throw new TestAuthError(403, "forbidden", "not an app session");
    if (p.bucket !== r.bucket) throw new TestAuthError(403, "wrong-bucket", `the session is for bucket ${p.bucket}`);
    if ((p.operations & OPS[r.op]) === 0)
      throw new TestAuthError(403, "forbidden", `the session does not allow ${r.op}`);
    const b = await this.ddc.getBucket(r.bucket);
    if (Number(b.cluster) !== this.cluster) throw new TestAuthError(403, "not-in-cluster", "bucket not served here");
    const owner = b.owner === p.account;
    const writer = owner || (await this.ddc.bucketHasRole(r.bucket, p.account, 0));
    const reader = writer || (await this.ddc.bucketHasRole(r.bucket, p.account, 1));
    if (r.op === "read" || r.op === "list" ? !reader : !writer) {
      throw new TestAuthError(403, "forbidden", `${p.account} may not ${r.op} in bucket ${r.bucket}`);
    }
    const status = Number(await this.ddc.bucketStatus(r.bucket));
    if (status === 4) throw new TestAuthError(410, "bucket-closed", "the bucket is closed");
    if (status === 3) throw new TestAuthError(402, "bucket-suspended", "the bucket is suspended");
    if (status === 2 && r.op === "write") throw new TestAuthError(402, "bucket-in-arrears", "the bucket is in arrears");
  }

  async capBytes(bucket: bigint): Promise<bigint> {
    return this.caps.get(bucket) ?? 1n << 40n;
  }
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}
