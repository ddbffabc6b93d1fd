import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import type { TypedDataDomain } from "ethers";
import { request } from "undici";
import { z } from "zod";
import {
  EMPTY_SHA256,
  HEADER,
  NODE_SESSION_TYPES,
  RECEIPT_TYPES,
  b64url,
  canonicalRequest,
  type SignedReceipt,
} from "../protocol";
import type { ClusterSource, ReplicaMeta, RowCursor } from "./ports";

/** What can sign EIP-712 data with the node's registered key (an ethers Wallet or Signer). */
export interface TypedSigner {
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, { name: string; type: string }[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

const SESSION_TTL_S = 3600;
/** A session is renewed when less than this is left (seconds). */
const SESSION_RENEW_S = 300;
/** How long a peer request may be replayed at most (seconds). */
const REQUEST_TTL_S = 60;

/**
 * This node as its peers see it: a `NodeSession` signed once by the node key (renewed before it
 * expires) and the session key that signs each request. Also signs the node's receipts.
 */
export class NodeIdentity {
  private session?: { token: string; key: KeyObject; expiry: number };
  private pending?: Promise<{ token: string; key: KeyObject; expiry: number }>;

  constructor(
    readonly node: number,
    private readonly signer: TypedSigner,
    readonly domain: TypedDataDomain,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  private async newSession(): Promise<{ token: string; key: KeyObject; expiry: number }> {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
    const sessionKey = "0x" + raw.toString("hex");
    const expiry = this.now() + SESSION_TTL_S;
    const signature = await this.signer.signTypedData(
      this.domain,
      NODE_SESSION_TYPES as unknown as Record<string, { name: string; type: string }[]>,
      { node: this.node, sessionKey, expiry },
    );
    const token = b64url(Buffer.from(JSON.stringify({ kind: "node", node: this.node, sessionKey, expiry, signature })));
    return { token, key: privateKey, expiry };
  }

  private async current(): Promise<{ token: string; key: KeyObject; expiry: number }> {
    if (this.session && this.session.expiry - this.now() > SESSION_RENEW_S) return this.session;
    this.pending ??= this.newSession().finally(() => (this.pending = undefined));
    this.session = await this.pending;
    return this.session;
  }

  /** The headers that authenticate one request to a peer. */
  async headers(method: string, target: string, bodySha256: string = EMPTY_SHA256): Promise<Record<string, string>> {
    const session = await this.current();
    const expires = this.now() + REQUEST_TTL_S;
    const nonce = method === "GET" ? undefined : randomBytes(16).toString("hex");
    const canonical = canonicalRequest({ method, target, bodySha256, expires, nonce });
    const signature = sign(null, Buffer.from(canonical, "utf8"), session.key);
    const headers: Record<string, string> = {
      [HEADER.session]: session.token,
      [HEADER.signature]: b64url(signature),
      [HEADER.expires]: String(expires),
      [HEADER.contentSha256]: bodySha256,
      [HEADER.node]: String(this.node),
    };
    if (nonce) headers[HEADER.nonce] = nonce;
    return headers;
  }

  /** This node's signed receipt for a stored row. */
  async receipt(meta: Pick<ReplicaMeta, "bucket" | "key" | "version" | "sha256" | "size">): Promise<SignedReceipt> {
    const value = {
      node: this.node,
      bucket: meta.bucket,
      key: meta.key,
      version: meta.version,
      sha256: "0x" + meta.sha256,
      size: meta.size,
    };
    const signature = await this.signer.signTypedData(
      this.domain,
      RECEIPT_TYPES as unknown as Record<string, { name: string; type: string }[]>,
      value,
    );
    return {
      node: this.node,
      bucket: meta.bucket,
      key: meta.key,
      version: meta.version.toString(),
      sha256: meta.sha256,
      size: meta.size,
      signature,
    };
  }
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Uint = z.string().regex(/^\d{1,20}$/);

export const SignedReceiptSchema = z.object({
  node: z.number().int().nonnegative(),
  bucket: Uint,
  key: z.string(),
  version: Uint,
  sha256: Hex64,
  size: z.number().int().nonnegative(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

export const ReplicaAnswerSchema = z.union([
  z.object({ receipt: SignedReceiptSchema }),
  z.object({ superseded: z.literal(true), version: Uint }),
]);
export type ReplicaAnswer = z.infer<typeof ReplicaAnswerSchema>;

export const DeleteAnswerSchema = z.union([
  z.object({ deleted: z.literal(true), version: Uint }),
  z.object({ superseded: z.literal(true), version: Uint }),
]);

/** A row as it travels: integers as decimal strings. */
export const RowSchema = z.object({
  bucket: Uint,
  key: z.string().min(1).max(1024),
  token: Uint,
  version: Uint,
  sha256: z.union([Hex64, z.literal("")]),
  size: z.number().int().nonnegative(),
  root: z.union([Hex64, z.literal("")]),
  deleted: z.boolean(),
});
export type WireRow = z.infer<typeof RowSchema>;

export const RangePageSchema = z.object({ rows: z.array(RowSchema).max(1000), next: z.string().optional() });
export const DigestSchema = z.object({ digest: z.string(), count: z.number().int().nonnegative() });

export function rowToWire(r: ReplicaMeta): WireRow {
  return { ...r, token: r.token.toString(), version: r.version.toString() };
}
export function rowFromWire(r: WireRow): ReplicaMeta {
  return { ...r, token: BigInt(r.token), version: BigInt(r.version) };
}
export function encodeCursor(c: RowCursor): string {
  return b64url(Buffer.from(JSON.stringify([c.token.toString(), c.bucket, c.key])));
}
export function decodeCursor(s: string): RowCursor {
  const [token, bucket, key] = z
    .tuple([Uint, Uint, z.string()])
    .parse(JSON.parse(Buffer.from(s, "base64url").toString("utf8")));
  return { token: BigInt(token), bucket, key };
}

/** A peer's failure: why a request to it did not succeed. */
export class PeerError extends Error {
  constructor(
    readonly node: number,
    readonly reason: string,
  ) {
    super(`node ${node}: ${reason}`);
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Encodes an object key for a path: each `/`-separated segment percent-encoded. */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** The internal API of the other replicas, called with this node's identity and a per-request timeout. */
export class PeerClient {
  constructor(
    private readonly identity: NodeIdentity,
    private readonly chain: ClusterSource,
    readonly timeoutMs = 5000,
  ) {}

  private async call(
    node: number,
    method: "GET" | "PUT" | "DELETE",
    target: string,
    body?: Buffer,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; body: Buffer }> {
    const info = await this.chain.node(node);
    const base = info.urls[0];
    if (!base) throw new PeerError(node, "no url on chain");
    const headers = {
      ...(await this.identity.headers(method, target, body ? sha256Hex(body) : EMPTY_SHA256)),
      ...extra,
    };
    if (body) headers["content-type"] = "application/octet-stream";
    try {
      const res = await request(base.replace(/\/$/, "") + target, {
        method,
        headers,
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, body: bytes };
    } catch (e) {
      const name = (e as Error).name;
      if (name === "TimeoutError" || name === "AbortError" || /timeout/i.test(String((e as Error).message)))
        throw new PeerError(node, "timed out");
      throw new PeerError(node, `unreachable (${(e as Error).message})`);
    }
  }

  private json<T>(node: number, res: { status: number; body: Buffer }, schema: z.ZodType<T>): T {
    if (res.status !== 200 && res.status !== 201) {
      let message = `HTTP ${res.status}`;
      try {
        const err = JSON.parse(res.body.toString("utf8")) as { error?: { code?: string; message?: string } };
        if (err.error?.code) message += ` ${err.error.code}: ${err.error.message ?? ""}`;
      } catch {
        // not JSON: the status says enough
      }
      throw new PeerError(node, message);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new PeerError(node, "answer is not JSON");
    }
    const r = schema.safeParse(parsed);
    if (!r.success) throw new PeerError(node, "malformed answer");
    return r.data;
  }

  async putReplica(node: number, meta: ReplicaMeta, body: Buffer, coordinator: number): Promise<ReplicaAnswer> {
    const target = `/v1/internal/replicas/${meta.bucket}/${keyPath(meta.key)}`;
    const res = await this.call(node, "PUT", target, body, {
      [HEADER.version]: meta.version.toString(),
      [HEADER.root]: meta.root,
      [HEADER.replicaOf]: String(coordinator),
    });
    return this.json(node, res, ReplicaAnswerSchema);
  }

  async deleteReplica(node: number, bucket: string, key: string, version: bigint, coordinator: number) {
    const target = `/v1/internal/replicas/${bucket}/${keyPath(key)}?version=${version}`;
    const res = await this.call(node, "DELETE", target, undefined, { [HEADER.replicaOf]: String(coordinator) });
    return this.json(node, res, DeleteAnswerSchema);
  }

  async rangePage(node: number, cluster: number, from: bigint, to: bigint, after: string | undefined, limit: number) {
    const q = new URLSearchParams({ from: from.toString(), to: to.toString(), limit: String(limit) });
    if (after) q.set("after", after);
    const res = await this.call(node, "GET", `/v1/internal/ranges/${cluster}?${q}`);
    return this.json(node, res, RangePageSchema);
  }

  async rangeDigest(node: number, cluster: number, from: bigint, to: bigint) {
    const q = new URLSearchParams({ from: from.toString(), to: to.toString() });
    const res = await this.call(node, "GET", `/v1/internal/ranges/${cluster}/digest?${q}`);
    return this.json(node, res, DigestSchema);
  }

  /** The blob's bytes; refused (PeerError) unless they hash to `sha256`. */
  async blob(node: number, sha256: string): Promise<Buffer> {
    const res = await this.call(node, "GET", `/v1/internal/blobs/${sha256}`);
    if (res.status !== 200) throw new PeerError(node, `HTTP ${res.status}`);
    if (sha256Hex(res.body) !== sha256) throw new PeerError(node, "sent bytes that do not match the sha256");
    return res.body;
  }
}
