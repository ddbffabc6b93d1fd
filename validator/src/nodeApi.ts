import { createHash, createPrivateKey, randomBytes, sign as cryptoSign, type KeyObject } from "node:crypto";
import { getAddress, verifyTypedData, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import { z } from "zod";
import { manifestRoot, type ManifestEntry } from "../../storage-node/src/bucketManifest";
import { newSessionKey, signRequest, signValidatorSession } from "../../storage-node/src/auth/sign";
import {
  CHALLENGE_TYPES,
  HEADER,
  MANIFEST_PAGE_TYPES,
  PROBE_TYPES,
  USAGE_TYPES,
  type SessionToken,
} from "../../storage-node/src/protocol";
import { hashLeaf, toHex, verifyMerkleProof } from "../../storage-node/src/store/merkle";
import { redactUrl } from "../../lib/redact";

/**
 * What a validator asks a storage node, and how it checks each answer: probes, manifests,
 * challenges and usage records, each signed by the validator's session key and answered signed by
 * the node's registered key. Every call has a timeout; every answer is parsed (zod) and its
 * signature recovered before anything in it is believed.
 */

/** The node a call goes to: its id, its first URL and the key it signs with (from the core). */
export interface NodeTarget {
  id: number;
  url: string;
  signingKey: string;
}

const mutable = (t: object) => t as Record<string, TypedDataField[]>;
const nodeSha256 = () => createHash("sha256");

/** PKCS#8 DER of an ed25519 private key, before its 32-byte seed. */
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const keyObjects = new WeakMap<Uint8Array, KeyObject>();

/**
 * ed25519 with node:crypto (the same signatures as the portable implementation: ed25519 is
 * deterministic), many times faster: a validator signs thousands of requests an era.
 */
export function nodeEd25519Sign(message: Uint8Array, privateKey: Uint8Array): Uint8Array {
  let key = keyObjects.get(privateKey);
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, privateKey]), format: "der", type: "pkcs8" });
    keyObjects.set(privateKey, key);
  }
  return cryptoSign(null, message, key);
}

/** How long a validator session lasts, and how long before its end a new one is signed. */
const SESSION_S = 3600;
const RENEW_S = 300;

/** A validator session per cluster, signed by the validator's wallet once an hour. */
export class ValidatorSessions {
  private readonly sessions = new Map<number, { token: SessionToken; privateKey: Uint8Array; expiry: number }>();

  constructor(
    private readonly signer: Signer,
    readonly domain: TypedDataDomain,
    /** Unix seconds (tests move it). */
    private readonly nowS: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async session(cluster: number): Promise<{ token: SessionToken; privateKey: Uint8Array }> {
    const now = this.nowS();
    const held = this.sessions.get(cluster);
    if (held !== undefined && held.expiry - now > RENEW_S) return held;
    const key = newSessionKey();
    const expiry = now + SESSION_S;
    const token = await signValidatorSession(this.signer, this.domain, {
      cluster,
      sessionKey: key.publicKey,
      issuedAt: now,
      expiry,
    });
    const fresh = { token, privateKey: key.privateKey, expiry };
    this.sessions.set(cluster, fresh);
    return fresh;
  }
}

/** Why a call gave nothing to believe: the words go to the operator (the detail file, the log). */
export class NodeCallError extends Error {
  constructor(
    message: string,
    /** A timeout or a connection that failed: tried again later, it may succeed. */
    readonly transient: boolean,
    /**
     * The object may have changed since the manifest it was chosen from (the node answered 404,
     * or for a newer version): whether this fails the node is settled at the era's end, against
     * the era-end manifests of its replicas.
     */
    readonly mayHaveChanged = false,
  ) {
    super(message);
    this.name = "NodeCallError";
  }
}

interface CallOptions {
  method: "GET" | "POST";
  target: string;
  body?: Buffer;
  timeoutMs: number;
}

/** One signed call; returns the status, the parsed JSON (if any) and the round trip in ms. */
async function call(
  node: NodeTarget,
  sessions: ValidatorSessions,
  cluster: number,
  o: CallOptions,
): Promise<{ status: number; json: unknown; ms: number }> {
  const { token, privateKey } = await sessions.session(cluster);
  const bodySha256 = o.body === undefined ? undefined : createHash("sha256").update(o.body).digest("hex");
  const headers = signRequest({
    privateKey,
    sessionToken: token,
    node: node.id,
    method: o.method,
    target: o.target,
    bodySha256,
    expires: Math.floor(Date.now() / 1000) + 60,
    sign: nodeEd25519Sign,
  });
  if (o.body !== undefined) {
    headers["content-type"] = "application/json";
    headers[HEADER.contentSha256] = bodySha256!;
  }
  const started = performance.now();
  let response: Response;
  let text: string;
  try {
    response = await fetch(node.url.replace(/\/+$/, "") + o.target, {
      method: o.method,
      headers,
      body: o.body,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      throw new NodeCallError(`no answer within ${o.timeoutMs} ms from ${redactUrl(node.url)}`, true);
    }
    throw new NodeCallError(
      `cannot reach ${redactUrl(node.url)}: ${e.cause?.code ?? e.cause?.message ?? e.message}`,
      true,
    );
  }
  const ms = performance.now() - started;
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, ms };
}

/** A node's JSON error `{ code, message }`, in words. */
function httpError(status: number, json: unknown): string {
  const e = z.object({ code: z.string(), message: z.string() }).safeParse(json);
  return e.success ? `HTTP ${status} ${e.data.code}: ${e.data.message}` : `HTTP ${status}`;
}

/** Whether `signature` over `value` recovers to the node's registered key. */
function signedByNode(
  node: NodeTarget,
  domain: TypedDataDomain,
  types: object,
  value: Record<string, unknown>,
  signature: string,
): boolean {
  try {
    return getAddress(verifyTypedData(domain, mutable(types), value, signature)) === getAddress(node.signingKey);
  } catch {
    return false;
  }
}

const hex64 = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/);
const decimal = z.string().regex(/^\d{1,20}$/);
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/);

const probeAnswer = z.object({ node: z.number().int(), nonce: z.string(), at: z.number().int(), signature });

/**
 * One probe: the round trip in ms, or a NodeCallError saying what came back. The node's signature
 * is checked when `verify` (a recovery costs milliseconds: the validator checks a sample the node
 * cannot predict); the node and nonce always.
 */
export async function probe(
  node: NodeTarget,
  sessions: ValidatorSessions,
  cluster: number,
  timeoutMs: number,
  verify = true,
) {
  const nonce = randomBytes(16).toString("hex");
  const r = await call(node, sessions, cluster, { method: "GET", target: `/v1/qos/probe?nonce=${nonce}`, timeoutMs });
  if (r.status !== 200) throw new NodeCallError(httpError(r.status, r.json), r.status >= 500);
  const a = probeAnswer.safeParse(r.json);
  if (!a.success) throw new NodeCallError("the probe's answer is not a probe answer", false);
  if (a.data.node !== node.id || a.data.nonce !== nonce) {
    throw new NodeCallError(`the probe's answer is for node ${a.data.node} and another nonce`, false);
  }
  if (
    verify &&
    !signedByNode(node, sessions.domain, PROBE_TYPES, { node: node.id, nonce, at: a.data.at }, a.data.signature)
  ) {
    throw new NodeCallError("the probe's answer is not signed by the node's registered key", false);
  }
  return { ms: r.ms };
}

const manifestEntry = z.object({
  key: z.string(),
  version: decimal,
  sha256: hex64,
  size: z.number().int().min(0),
  root: hex64,
});
const manifestPage = z.object({
  node: z.number().int(),
  cluster: z.number().int(),
  era: z.number().int(),
  bucket: decimal,
  objects: z.number().int().min(0),
  manifestRoot: hex64,
  entries: z.array(manifestEntry),
  next: z.string().optional(),
  signature,
});

/** A bucket's manifest as a node signed it, every page checked and its root recomputed. */
export interface NodeManifest {
  bucket: bigint;
  era: number;
  root: string;
  entries: ManifestEntry[];
}

const bare = (h: string) => h.toLowerCase().replace(/^0x/, "");

/**
 * Node `node`'s manifest of `bucket` in era `era` of `cluster`, all its pages: each page signed by
 * the node, the pages' entries strictly increasing by key, and the root of all of them equal to
 * the root the node signed. Anything else is a NodeCallError naming what was wrong.
 */
export async function fetchManifest(
  node: NodeTarget,
  sessions: ValidatorSessions,
  cluster: number,
  era: number,
  bucket: bigint,
  timeoutMs: number,
  maxEntries = 1_000_000,
): Promise<NodeManifest> {
  const entries: ManifestEntry[] = [];
  let after: string | undefined;
  let signedRoot: string | undefined;
  let signedCount = 0;
  for (;;) {
    const query = `limit=10000${after === undefined ? "" : `&start-after=${encodeURIComponent(after)}`}`;
    const r = await call(node, sessions, cluster, {
      method: "GET",
      target: `/v1/qos/manifest/${cluster}/${era}/${bucket}?${query}`,
      timeoutMs,
    });
    if (r.status !== 200)
      throw new NodeCallError(`manifest of bucket ${bucket}: ${httpError(r.status, r.json)}`, r.status >= 500);
    const p = manifestPage.safeParse(r.json);
    if (!p.success) throw new NodeCallError(`manifest of bucket ${bucket}: the answer is not a manifest page`, false);
    const page = p.data;
    const pageEntries: ManifestEntry[] = page.entries.map((e) => ({
      key: e.key,
      version: BigInt(e.version),
      sha256: bare(e.sha256),
      size: e.size,
      root: bare(e.root),
    }));
    const value = {
      node: node.id,
      cluster,
      era,
      bucket,
      objects: page.objects,
      manifestRoot: `0x${bare(page.manifestRoot)}`,
      startAfter: after ?? "",
      pageRoot: manifestRoot(pageEntries, nodeSha256),
      next: page.next ?? "",
    };
    if (page.node !== node.id || page.cluster !== cluster || page.era !== era || BigInt(page.bucket) !== bucket) {
      throw new NodeCallError(`manifest of bucket ${bucket}: a page for another node, cluster, era or bucket`, false);
    }
    if (!signedByNode(node, sessions.domain, MANIFEST_PAGE_TYPES, value, page.signature)) {
      throw new NodeCallError(`manifest of bucket ${bucket}: a page is not signed by the node's registered key`, false);
    }
    if (signedRoot !== undefined && (signedRoot !== value.manifestRoot || signedCount !== page.objects)) {
      throw new NodeCallError(`manifest of bucket ${bucket}: its pages sign different roots`, false);
    }
    signedRoot = value.manifestRoot;
    signedCount = page.objects;
    for (const e of pageEntries) {
      const last = entries[entries.length - 1];
      if (last !== undefined && Buffer.compare(Buffer.from(last.key), Buffer.from(e.key)) >= 0) {
        throw new NodeCallError(`manifest of bucket ${bucket}: keys out of order at "${e.key}"`, false);
      }
      entries.push(e);
    }
    if (entries.length > maxEntries)
      throw new NodeCallError(`manifest of bucket ${bucket}: over ${maxEntries} entries`, false);
    if (page.next === undefined) break;
    if (page.entries.length === 0)
      throw new NodeCallError(`manifest of bucket ${bucket}: an empty page with a next`, false);
    after = page.next;
  }
  const root = manifestRoot(entries, nodeSha256);
  if (entries.length !== signedCount || root !== signedRoot) {
    throw new NodeCallError(
      `manifest of bucket ${bucket}: the node signed ${signedCount} objects with root ${signedRoot}, its pages hold ${entries.length} with root ${root}`,
      false,
    );
  }
  return { bucket, era, root, entries };
}

const challengeAnswer = z.object({
  node: z.number().int(),
  bucket: decimal,
  key: z.string(),
  version: decimal,
  size: z.number().int().min(0),
  sha256: hex64,
  root: hex64,
  leafIndex: z.number().int().min(0),
  leafCount: z.number().int().min(1),
  leaf: z.string(),
  proof: z.array(hex64),
  seed: z.string(),
  nonce: z.string(),
  signature,
});

/** A challenge of one leaf of one object, and what the validator expects of it (from a manifest). */
export interface ChallengeSpec {
  bucket: bigint;
  entry: ManifestEntry;
  leafIndex: number;
  seed: string;
}

/**
 * Challenges `node` for one leaf and checks the answer: the object the manifest names (version,
 * SHA-256, size, root), the leaf's bytes hashing to a leaf that the Merkle path takes to that
 * root, and the node's signature over it. Returns the round trip; a NodeCallError otherwise,
 * transient for a timeout or a failed connection.
 */
export async function challenge(
  node: NodeTarget,
  sessions: ValidatorSessions,
  cluster: number,
  c: ChallengeSpec,
  timeoutMs: number,
): Promise<{ ms: number }> {
  const nonce = randomBytes(16).toString("hex");
  const body = Buffer.from(
    JSON.stringify({ seed: c.seed, bucket: c.bucket.toString(), key: c.entry.key, leafIndex: c.leafIndex, nonce }),
  );
  const r = await call(node, sessions, cluster, { method: "POST", target: "/v1/qos/challenge", body, timeoutMs });
  if (r.status !== 200) {
    throw new NodeCallError(httpError(r.status, r.json), r.status === 503 && isBusy(r.json), r.status === 404);
  }
  const p = challengeAnswer.safeParse(r.json);
  if (!p.success) throw new NodeCallError("the answer is not a challenge answer", false);
  const a = p.data;
  const e = c.entry;
  if (
    a.node !== node.id ||
    a.key !== e.key ||
    BigInt(a.bucket) !== c.bucket ||
    a.nonce !== nonce ||
    a.seed !== c.seed
  ) {
    throw new NodeCallError("the answer is for another node, object, nonce or seed", false);
  }
  if (BigInt(a.version) !== e.version || bare(a.sha256) !== e.sha256 || a.size !== e.size || bare(a.root) !== e.root) {
    throw new NodeCallError(
      `the answer is for version ${a.version} (sha256 ${bare(a.sha256).slice(0, 12)}…, ${a.size} bytes), ` +
        `the manifest lists version ${e.version} (sha256 ${e.sha256.slice(0, 12)}…, ${e.size} bytes)`,
      false,
      BigInt(a.version) > e.version,
    );
  }
  if (a.leafIndex !== c.leafIndex)
    throw new NodeCallError(`the answer is leaf ${a.leafIndex}, not ${c.leafIndex}`, false);
  const leaf = Buffer.from(a.leaf, "base64");
  const expected = Math.min(64 * 1024, e.size - c.leafIndex * 64 * 1024);
  if (leaf.length !== Math.max(0, expected)) {
    throw new NodeCallError(`leaf ${c.leafIndex} is ${leaf.length} bytes, the object's is ${expected}`, false);
  }
  const leafHash = hashLeaf(leaf, nodeSha256);
  if (
    !verifyMerkleProof({ leafHash, index: c.leafIndex, count: a.leafCount, proof: a.proof, root: e.root }, nodeSha256)
  ) {
    throw new NodeCallError(
      `leaf ${c.leafIndex}'s bytes (hash ${toHex(leafHash).slice(0, 12)}…) do not lead to the object's root by the path sent: wrong bytes or a bad Merkle path`,
      false,
    );
  }
  const value = {
    node: node.id,
    seed: c.seed,
    nonce,
    bucket: c.bucket,
    key: e.key,
    version: e.version,
    leafIndex: c.leafIndex,
    leafHash: `0x${toHex(leafHash)}`,
    root: `0x${e.root}`,
  };
  if (!signedByNode(node, sessions.domain, CHALLENGE_TYPES, value, a.signature)) {
    throw new NodeCallError("the answer is not signed by the node's registered key", false);
  }
  return { ms: r.ms };
}

/** A 503 that says the node is busy or its chain is away, rather than that the data is bad. */
function isBusy(json: unknown): boolean {
  const e = z.object({ code: z.string() }).safeParse(json);
  return e.success && e.data.code !== "quarantined";
}

const usageBucket = z.object({
  bucket: decimal,
  storedBytes: decimal,
  servedBytes: decimal,
  requests: decimal,
  objects: z.number().int().min(0),
  manifestRoot: hex64,
});
const usageRecord = z.object({
  node: z.number().int(),
  cluster: z.number().int(),
  era: z.number().int(),
  buckets: z.array(usageBucket),
  signature,
});

export interface NodeUsage {
  buckets: { bucket: bigint; storedBytes: bigint; objects: number; manifestRoot: string }[];
}

/** Node `node`'s signed usage record of a closed era: checked to be for it, that era, and signed by it. */
export async function fetchUsage(
  node: NodeTarget,
  sessions: ValidatorSessions,
  cluster: number,
  era: number,
  timeoutMs: number,
): Promise<NodeUsage> {
  const r = await call(node, sessions, cluster, { method: "GET", target: `/v1/usage/${cluster}/${era}`, timeoutMs });
  if (r.status !== 200) throw new NodeCallError(`usage record: ${httpError(r.status, r.json)}`, r.status >= 500);
  const p = usageRecord.safeParse(r.json);
  if (!p.success) throw new NodeCallError("usage record: the answer is not a usage record", false);
  const u = p.data;
  if (u.node !== node.id || u.cluster !== cluster || u.era !== era) {
    throw new NodeCallError(`usage record: for node ${u.node}, cluster ${u.cluster}, era ${u.era}`, false);
  }
  const value = {
    node: u.node,
    cluster: u.cluster,
    era: u.era,
    buckets: u.buckets.map((b) => ({ ...b, manifestRoot: `0x${bare(b.manifestRoot)}` })),
  };
  if (!signedByNode(node, sessions.domain, USAGE_TYPES, value, u.signature)) {
    throw new NodeCallError("usage record: not signed by the node's registered key", false);
  }
  return {
    buckets: u.buckets.map((b) => ({
      bucket: BigInt(b.bucket),
      storedBytes: BigInt(b.storedBytes),
      objects: b.objects,
      manifestRoot: `0x${bare(b.manifestRoot)}`,
    })),
  };
}
