import { createHash } from "node:crypto";
import type { Signer, TypedDataDomain } from "ethers";
import { request } from "undici";
import { z } from "zod";
import { encodeSessionToken, newSessionKey, signNodeSession, signRequest } from "../auth/sign";
import { HEADER, RECEIPT_TYPES, receiptMessage, signedReceipt, type SignedReceipt } from "../protocol";
import type { ObjectRecord } from "../store/meta";
import type { ReplicationChain } from "./ports";

/** How long a node session lasts (seconds); it is renewed when less than {@link SESSION_RENEW_S} is left. */
const SESSION_TTL_S = 3600;
const SESSION_RENEW_S = 300;
/** A peer request expires this long after it is signed (seconds). */
const REQUEST_TTL_S = 60;

const eip712 = (t: object) => t as Record<string, { name: string; type: string }[]>;

/**
 * This node as its peers see it: a `NodeSession` signed once by the node key (renewed before it
 * expires) whose session key signs each request; and the node's receipts.
 */
export class NodeIdentity {
  private session?: { token: string; privateKey: Uint8Array; expiry: number };
  private pending?: Promise<{ token: string; privateKey: Uint8Array; expiry: number }>;

  constructor(
    readonly node: number,
    private readonly signer: Signer,
    readonly domain: TypedDataDomain,
    /** Unix seconds. */
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  private async current() {
    if (this.session !== undefined && this.session.expiry - this.now() > SESSION_RENEW_S) return this.session;
    this.pending ??= (async () => {
      const key = newSessionKey();
      const expiry = this.now() + SESSION_TTL_S;
      const token = await signNodeSession(this.signer, this.domain, {
        node: this.node,
        sessionKey: key.publicKey,
        expiry,
      });
      return { token: encodeSessionToken(token), privateKey: key.privateKey, expiry };
    })().finally(() => (this.pending = undefined));
    this.session = await this.pending;
    return this.session;
  }

  /**
   * The headers that authenticate one request to peer `peer` (signed for that node only); a PUT's
   * `contentType` and the `version` header are signed and returned with them.
   */
  async headers(
    peer: number,
    method: string,
    target: string,
    bodySha256?: string,
    signed: { contentType?: string; version?: string } = {},
  ): Promise<Record<string, string>> {
    const s = await this.current();
    return {
      ...signRequest({
        privateKey: s.privateKey,
        sessionToken: s.token,
        node: peer,
        method,
        target,
        bodySha256,
        contentType: signed.contentType,
        version: signed.version,
        expires: this.now() + REQUEST_TTL_S,
      }),
      [HEADER.node]: String(this.node),
    };
  }

  /**
   * This node's signed receipt for a row it holds: the signature the store kept with the row when
   * there is one (it signed the row as it stored it), else one signed now.
   */
  async receipt(
    r: Pick<ObjectRecord, "bucket" | "key" | "version" | "sha256" | "size" | "root"> & { receipt?: string },
  ): Promise<SignedReceipt> {
    if (r.receipt !== undefined) return signedReceipt(this.node, r, r.receipt);
    const signature = await this.signer.signTypedData(this.domain, eip712(RECEIPT_TYPES), receiptMessage(this.node, r));
    return signedReceipt(this.node, r, signature);
  }
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Uint = z.string().regex(/^(0|[1-9]\d{0,19})$/);

export const SignedReceiptSchema = z.object({
  node: z.number().int().nonnegative(),
  bucket: Uint,
  key: z.string(),
  version: Uint,
  sha256: Hex64,
  size: z.number().int().nonnegative(),
  root: Hex64,
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

export const PutAnswerSchema = z.union([
  z.object({ receipt: SignedReceiptSchema }).strict(),
  z.object({ superseded: z.literal(true), version: Uint }).strict(),
]);
export type PutAnswer = z.infer<typeof PutAnswerSchema>;

export const DeleteAnswerSchema = z.union([
  z.object({ deleted: z.literal(true), version: Uint }).strict(),
  z.object({ superseded: z.literal(true), version: Uint }).strict(),
]);

/** A row as it travels: integers in decimal. */
export const WireRowSchema = z
  .object({
    bucket: Uint,
    key: z.string().min(1).max(4096),
    token: Uint,
    version: Uint,
    sha256: z.union([Hex64, z.literal("")]),
    size: z.number().int().nonnegative(),
    root: z.union([Hex64, z.literal("")]),
    deleted: z.boolean(),
  })
  .strict();
export type WireRow = z.infer<typeof WireRowSchema>;

export const RangePageSchema = z
  .object({ rows: z.array(WireRowSchema).max(1000), next: z.string().max(8192).optional() })
  .strict();
export const DigestSchema = z
  .object({ digest: z.string().regex(/^[0-9a-f]{64}$/), count: z.number().int().nonnegative() })
  .strict();

/** A row on the wire and back. */
export interface Row {
  bucket: bigint;
  key: string;
  token: bigint;
  version: bigint;
  sha256: string;
  size: number;
  root: string;
  deleted: boolean;
}
export function rowToWire(r: Row): WireRow {
  return {
    bucket: r.bucket.toString(),
    key: r.key,
    token: r.token.toString(),
    version: r.version.toString(),
    sha256: r.sha256,
    size: r.size,
    root: r.root,
    deleted: r.deleted,
  };
}
export function rowFromWire(r: WireRow): Row {
  return { ...r, bucket: BigInt(r.bucket), token: BigInt(r.token), version: BigInt(r.version) };
}

/** A peer did not do what was asked: unreachable, timed out, refused, or answered something wrong. */
export class PeerError extends Error {
  constructor(
    readonly node: number,
    readonly reason: string,
  ) {
    super(`node ${node}: ${reason}`);
    this.name = "PeerError";
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** An object key in a path: each `/`-separated segment percent-encoded. */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** The internal API of the other nodes, called with this node's identity and a timeout per request. */
export class PeerClient {
  constructor(
    private readonly identity: NodeIdentity,
    private readonly chain: ReplicationChain,
    readonly timeoutMs = 5000,
  ) {}

  private async baseUrl(node: number, url?: string): Promise<string> {
    if (url !== undefined) return url;
    const info = await this.chain.node(node);
    const first = info?.urls[0];
    if (first === undefined) throw new PeerError(node, "no URL registered on chain");
    return first;
  }

  private async call(
    node: number,
    method: "GET" | "PUT" | "DELETE",
    target: string,
    opts: { body?: Buffer; headers?: Record<string, string>; url?: string } = {},
  ): Promise<{ status: number; body: Buffer }> {
    const base = (await this.baseUrl(node, opts.url)).replace(/\/+$/, "");
    const signal = AbortSignal.timeout(this.timeoutMs);
    // A kept-alive connection the peer closed (it restarted) fails before any answer: one more try
    // on a fresh connection, signed anew. Every internal route is idempotent (versions, digests).
    for (let attempt = 1; ; attempt++) {
      const { [HEADER.version]: version, ...other } = opts.headers ?? {};
      const headers: Record<string, string> = {
        ...other,
        ...(await this.identity.headers(node, method, target, opts.body ? sha256Hex(opts.body) : undefined, {
          contentType: opts.body && method === "PUT" ? "application/octet-stream" : undefined,
          version,
        })),
      };
      try {
        const res = await request(base + target, { method, headers, body: opts.body, signal });
        const body = Buffer.from(await res.body.arrayBuffer());
        return { status: res.statusCode, body };
      } catch (e) {
        if (signal.aborted) throw new PeerError(node, `timed out after ${this.timeoutMs} ms`);
        const err = e as { code?: string; message?: string };
        if (attempt === 1 && (err.code === "UND_ERR_SOCKET" || err.code === "ECONNRESET")) continue;
        throw new PeerError(node, `unreachable (${err.code ?? err.message ?? String(e)})`);
      }
    }
  }

  private json<T>(node: number, res: { status: number; body: Buffer }, schema: z.ZodType<T>): T {
    if (res.status < 200 || res.status > 299) {
      let detail = "";
      try {
        const e = JSON.parse(res.body.toString("utf8")) as { error?: { code?: string; message?: string } };
        if (e.error?.code !== undefined) detail = ` ${e.error.code}: ${e.error.message ?? ""}`;
      } catch {
        // not JSON: the status says enough
      }
      throw new PeerError(node, `answered HTTP ${res.status}${detail}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new PeerError(node, "answered something that is not JSON");
    }
    const r = schema.safeParse(parsed);
    if (!r.success) throw new PeerError(node, "answered a malformed body");
    return r.data;
  }

  async putReplica(node: number, row: Row, body: Buffer, coordinator: number, url?: string): Promise<PutAnswer> {
    const target = `/v1/internal/replicas/${row.bucket}/${keyPath(row.key)}`;
    const res = await this.call(node, "PUT", target, {
      body,
      url,
      headers: { [HEADER.version]: row.version.toString(), [HEADER.replicaOf]: String(coordinator) },
    });
    return this.json(node, res, PutAnswerSchema);
  }

  async deleteReplica(node: number, bucket: bigint, key: string, version: bigint, coordinator: number, url?: string) {
    const target = `/v1/internal/replicas/${bucket}/${keyPath(key)}?version=${version}`;
    const res = await this.call(node, "DELETE", target, { url, headers: { [HEADER.replicaOf]: String(coordinator) } });
    return this.json(node, res, DeleteAnswerSchema);
  }

  /** One page of the rows of a token range `[from, to)` (the store's convention). */
  async rangePage(node: number, cluster: number, from: bigint, to: bigint, after: string | undefined, limit: number) {
    const q = new URLSearchParams({ from: from.toString(), to: to.toString(), limit: String(limit) });
    if (after !== undefined) q.set("after", after);
    const res = await this.call(node, "GET", `/v1/internal/ranges/${cluster}?${q}`);
    const page = this.json(node, res, RangePageSchema);
    return { rows: page.rows.map(rowFromWire), next: page.next };
  }

  async rangeDigest(node: number, cluster: number, from: bigint, to: bigint) {
    const q = new URLSearchParams({ from: from.toString(), to: to.toString() });
    const res = await this.call(node, "GET", `/v1/internal/ranges/${cluster}/digest?${q}`);
    return this.json(node, res, DigestSchema);
  }

  /** The content of (bucket, key) on `node`, which must be `sha256`; a PeerError unless the bytes hash to it. */
  async blob(node: number, row: Pick<Row, "bucket" | "key" | "sha256">): Promise<Buffer> {
    const { sha256 } = row;
    const res = await this.call(node, "GET", `/v1/internal/blobs/${row.bucket}/${keyPath(row.key)}?sha256=${sha256}`);
    if (res.status !== 200) throw new PeerError(node, `answered HTTP ${res.status} for blob ${sha256}`);
    if (sha256Hex(res.body) !== sha256) throw new PeerError(node, `sent bytes that are not blob ${sha256}`);
    return res.body;
  }
}
