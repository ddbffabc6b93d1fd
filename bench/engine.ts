import { createHash, createPrivateKey, randomBytes, sign as edSign, type KeyObject } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { encodeSessionToken, newSessionKey, signAppSession, signRequest } from "../storage-node/src/auth/sign";
import {
  ALL_OPS,
  HEADER,
  LEAF_BYTES,
  MAX_REQUEST_TTL_S,
  canonicalRequest,
  storageDomain,
} from "../storage-node/src/protocol";
import { nodeSha256 } from "../storage-node/src/store/blobs";
import { hashLeaf } from "../storage-node/src/store/merkle";
import { freePort } from "../test/helpers/localNode";
import {
  CONNECTIONS,
  THREADS,
  ensureTools,
  runWrk,
  toolVersions,
  writeLuaScript,
  writeRequests,
  type LoadRequest,
  type LoadResult,
} from "./engineLoad";
import { summariseProfile, type ProfileSummary } from "./engineProfile";
import { startNginx, startNodeHttp, type Served } from "./engineServers";
import { startEngineNode, type EngineNode } from "./engineNode";
import { startEngineWorld, type EngineWorld } from "./engineWorld";

/**
 * `npm run bench:engine`: the storage node's data plane under load. wrk (C, LuaJIT) sends GETs and
 * PUTs over 16 connections to three servers of the same files, each in its own process on
 * loopback: the node (authorisation on, every request signed; integrity checking on), nginx with
 * sendfile, and Node's plain `http` + `fs.createReadStream`. 64 objects of 4 KiB and 64 of 1 MiB;
 * per measurement a warm-up then RUNS runs, the median. The figures to compare across machines are
 * the ratios measured in one run (`get-1mib-vs-nginx`, `get-4kib-vs-node-http`). Writes
 * reports/engine.json (rows { name, value, unit, n }, as the other reports) and reports/engine.md.
 */
const ROOT = join(__dirname, "..");
const OBJECTS = 64;
const RUNS = 3;
const RUN_S = Number(process.env.DDC_BENCH_ENGINE_SECONDS ?? 5);
const WARMUP_S = 2;
const SIZES = [
  { label: "4kib", text: "4 KiB", bytes: 4 * 1024, dir: "4k" },
  { label: "1mib", text: "1 MiB", bytes: 1024 * 1024, dir: "1m" },
] as const;
type Size = (typeof SIZES)[number];
/** A PUT body's distinct tail (see bench/engineLoad.ts). */
const SUFFIX_BYTES = 16;

interface Row {
  name: string;
  value: number;
  unit: string;
  n: number;
}

interface Check {
  text: string;
  ok(value: number): boolean;
}

const TARGETS: Partial<Record<string, Check>> = {
  "get-1mib-vs-nginx": { text: "≥ 0.5 ×", ok: (v) => v >= 0.5 },
  "get-4kib-vs-node-http": { text: "≥ 0.5 ×", ok: (v) => v >= 0.5 },
};

const started = performance.now();
const log = (msg: string) =>
  console.log(`bench:engine: [${((performance.now() - started) / 1000).toFixed(0)} s] ${msg}`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const fmt = (x: number, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const objectKey = (size: Size, i: number) => `bench/${size.dir}/${String(i).padStart(2, "0")}`;

/** The median run of a measurement (by req/s) and every run's figures. */
interface Measured {
  runs: LoadResult[];
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrapped: boolean;
}

function summarise(runs: LoadResult[]): Measured {
  return {
    runs,
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    errors: runs.reduce((a, r) => a + r.statusErrors + r.socketErrors, 0),
    wrapped: runs.some((r) => r.wrapped),
  };
}

/** 64 files of each size, random bytes, under `files/bench/<4k|1m>/NN` (the objects' keys). */
function writeFiles(files: string): void {
  for (const size of SIZES) {
    mkdirSync(join(files, "bench", size.dir), { recursive: true });
    for (let i = 0; i < OBJECTS; i++) writeFileSync(join(files, objectKey(size, i)), randomBytes(size.bytes));
  }
}

/** An app session on the world's bucket, and the request signer for it. */
interface Client {
  token: string;
  privateKey: Uint8Array;
  /** The same key for node:crypto (ed25519 is deterministic: the same signatures, much faster in bulk). */
  key: KeyObject;
  bucket: bigint;
  /** The node the requests go to: each is signed for it. */
  node: number;
}

async function appClient(world: EngineWorld): Promise<Client> {
  const { privateKey, publicKey } = newSessionKey();
  const token = await signAppSession(world.owner, storageDomain(world.chainId, world.core), {
    bucket: world.bucket,
    sessionKey: publicKey,
    operations: ALL_OPS,
    expiry: Math.floor(Date.now() / 1000) + 24 * 3600,
  });
  // PKCS#8 for a raw ed25519 seed: the fixed prefix, then the 32 bytes.
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(privateKey)]);
  const key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  return { token: encodeSessionToken(token), privateKey, key, bucket: world.bucket, node: world.nodeId };
}

const objectPath = (c: Client, key: string) => `/v1/buckets/${c.bucket}/objects/${key}`;
/** A request expiry a little within the longest a node accepts. */
const requestExpiry = () => Math.floor(Date.now() / 1000) + MAX_REQUEST_TTL_S - 60;

/** Signed headers for one request, through node:crypto (the bulk path; checked against signRequest once). */
function fastSign(
  c: Client,
  r: { method: string; target: string; bodySha256?: string; contentType?: string; expires: number; nonce?: string },
): Record<string, string> {
  const message = canonicalRequest({
    ...r,
    node: c.node,
    bodySha256: r.bodySha256 ?? createHash("sha256").digest("hex"),
  });
  const headers: Record<string, string> = {
    [HEADER.session]: c.token,
    [HEADER.signature]: edSign(null, Buffer.from(message, "utf8"), c.key).toString("base64url"),
    [HEADER.expires]: String(r.expires),
  };
  if (r.nonce !== undefined) headers[HEADER.nonce] = r.nonce;
  if (r.bodySha256 !== undefined) headers[HEADER.contentSha256] = r.bodySha256;
  if (r.contentType !== undefined) headers["content-type"] = r.contentType;
  return headers;
}

/**
 * The bench's node:crypto signer against the protocol's own `signRequest` (DDC-REQUEST-2: the node
 * id, a PUT's content type and nonce, the body's SHA-256), once for a PUT and once for a GET with a
 * query: the same headers, byte for byte, or the bench stops.
 */
function checkFastSign(c: Client): void {
  const cases = [
    {
      method: "PUT",
      target: "/v1/buckets/1/objects/x",
      bodySha256: "ab".repeat(32),
      contentType: "application/octet-stream",
      expires: 1,
      nonce: "nonce-0001",
    },
    { method: "GET", target: "/v1/buckets/1/objects/x?fresh=1", expires: 2 },
  ];
  for (const r of cases) {
    const a = fastSign(c, r);
    const b = signRequest({ ...r, privateKey: c.privateKey, sessionToken: c.token, node: c.node });
    if (JSON.stringify(a) !== JSON.stringify(b))
      throw new Error(`bench: node:crypto's signature of a ${r.method} differs from signRequest's`);
  }
}

/** The authenticator's counters from the node's /metrics: ed25519 checks and GET signature cache hits. */
interface AuthCounts {
  checks: number;
  hits: number;
}

async function authCounts(node: EngineNode): Promise<AuthCounts> {
  const text = await (await fetch(`${node.opsOrigin}/metrics`)).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
    if (m === null) throw new Error(`bench: the node's /metrics has no ${name}`);
    return Number(m[1]);
  };
  return {
    checks: value("ddc_node_auth_signature_checks_total"),
    hits: value("ddc_node_auth_read_cache_hits_total"),
  };
}

/** Adds what the node's authenticator did during `run` to `into`. */
async function countAuth<T>(node: EngineNode, into: AuthCounts, run: () => Promise<T>): Promise<T> {
  const before = await authCounts(node);
  const r = await run();
  const after = await authCounts(node);
  into.checks += after.checks - before.checks;
  into.hits += after.hits - before.hits;
  return r;
}

/** The 64 GETs of one size, signed (GETs carry no nonce: the same signed request may be sent again until it expires). */
function signedGets(c: Client, size: Size): LoadRequest[] {
  const expires = requestExpiry();
  return Array.from({ length: OBJECTS }, (_, i) => {
    const target = objectPath(c, objectKey(size, i));
    return { method: "GET", path: target, headers: fastSign(c, { method: "GET", target, expires }) };
  });
}

/**
 * `count` GETs of one size over the 64 objects, each signed once: its target carries a query
 * parameter of its own (`?fresh=<n>`, which the node ignores but the signature covers), so no
 * signature is seen twice and the node's cache of verified GET signatures never hits: every
 * request pays its ed25519 verification.
 */
let freshCounter = 0;
function freshGets(c: Client, size: Size, count: number): LoadRequest[] {
  const expires = requestExpiry();
  return Array.from({ length: count }, (_, j) => {
    const target = `${objectPath(c, objectKey(size, j % OBJECTS))}?fresh=${freshCounter++}`;
    return { method: "GET", path: target, headers: fastSign(c, { method: "GET", target, expires }) };
  });
}

let putCounter = 0;
/**
 * `count` PUTs of one size over the 64 keys, each with a fresh nonce and a distinct body (the
 * object's file with its last 16 bytes replaced by a counter), signed over the body's SHA-256.
 */
function signedPuts(c: Client, files: string, size: Size, count: number): LoadRequest[] {
  const expires = requestExpiry();
  const prefixes = Array.from({ length: OBJECTS }, (_, i) => {
    const bytes = readFileSync(join(files, objectKey(size, i)));
    return createHash("sha256").update(bytes.subarray(0, bytes.length - SUFFIX_BYTES));
  });
  return Array.from({ length: count }, (_, j) => {
    const i = j % OBJECTS;
    const suffix = (putCounter++).toString(16).padStart(SUFFIX_BYTES, "0");
    const bodySha256 = prefixes[i].copy().update(suffix).digest("hex");
    const target = objectPath(c, objectKey(size, i));
    const nonce = randomBytes(16).toString("base64url");
    return {
      method: "PUT",
      path: target,
      headers: fastSign(c, {
        method: "PUT",
        target,
        bodySha256,
        contentType: "application/octet-stream",
        expires,
        nonce,
      }),
      body: { file: join(files, objectKey(size, i)), suffix },
    };
  });
}

/** Writes the 128 objects through the node's API (the files' exact bytes), 8 at a time. */
async function writeObjects(c: Client, node: EngineNode, files: string): Promise<void> {
  const jobs = SIZES.flatMap((size) => Array.from({ length: OBJECTS }, (_, i) => ({ size, i })));
  const put = async ({ size, i }: { size: Size; i: number }) => {
    const body = readFileSync(join(files, objectKey(size, i)));
    const target = objectPath(c, objectKey(size, i));
    const headers = signRequest({
      privateKey: c.privateKey,
      sessionToken: c.token,
      node: c.node,
      method: "PUT",
      target,
      bodySha256: createHash("sha256").update(body).digest("hex"),
      contentType: "application/octet-stream",
      expires: requestExpiry(),
    });
    const response = await fetch(node.origin + target, {
      method: "PUT",
      headers,
      body,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`bench: PUT ${target}: ${response.status} ${text}`);
  };
  for (let k = 0; k < jobs.length; k += 8) await Promise.all(jobs.slice(k, k + 8).map(put));
  // Each object once through GET, checked byte for byte.
  for (const { size, i } of jobs) {
    const target = objectPath(c, objectKey(size, i));
    const response = await fetch(node.origin + target, {
      headers: signRequest({
        privateKey: c.privateKey,
        sessionToken: c.token,
        node: c.node,
        method: "GET",
        target,
        expires: requestExpiry(),
      }),
    });
    const got = Buffer.from(await response.arrayBuffer());
    if (!response.ok || !got.equals(readFileSync(join(files, objectKey(size, i))))) {
      throw new Error(`bench: GET ${target} after the PUT: ${response.status}, ${got.length} bytes`);
    }
  }
}

/**
 * Milliseconds per MiB of the node's read check: the store's own leaf hash (`hashLeaf` with
 * node:crypto's SHA-256, as ObjectStore.read calls it) over the 1 MiB objects' bytes, 64 KiB leaves.
 */
function sha256MsPerMiB(files: string): { ms: number; runs: number[] } {
  const size = SIZES[1];
  const buffers = Array.from({ length: OBJECTS }, (_, i) => readFileSync(join(files, objectKey(size, i))));
  const leaf = LEAF_BYTES;
  const runs: number[] = [];
  for (let round = 0; round <= RUNS; round++) {
    const t0 = performance.now();
    for (const b of buffers) {
      for (let o = 0; o < b.length; o += leaf) hashLeaf(b.subarray(o, o + leaf), nodeSha256);
    }
    const ms = (performance.now() - t0) / OBJECTS;
    if (round > 0) runs.push(ms);
  }
  return { ms: median(runs), runs };
}

interface Outcome {
  gets: Map<string, LoadResult[]>;
  /** The node's signature checks and cache hits over the measured GET runs, by size. */
  getAuth: Map<string, AuthCounts>;
  /** GET 4 KiB, every request signed anew (no signature cache hits). */
  fresh: LoadResult[];
  freshAuth: AuthCounts;
  puts: Map<string, LoadResult[]>;
  sha: { ms: number; runs: number[] };
  versions: { wrk: string; nginx: string };
  load: number;
  /** How the node ran, or why it is missing. */
  node: { describe: string } | { error: string };
  profile?: ProfileSummary;
}

async function main(): Promise<void> {
  const { nginx } = ensureTools(log);
  const versions = toolVersions(nginx);
  const load = loadavg()[0];
  const work = mkdtempSync(join(tmpdir(), "ddc-bench-engine-"));
  const files = join(work, "files");
  const servers: Served[] = [];
  let world: EngineWorld | undefined;
  let node: EngineNode | undefined;
  let uncached: EngineNode | undefined;
  try {
    log(`${OBJECTS} files of 4 KiB and ${OBJECTS} of 1 MiB in ${files}…`);
    writeFiles(files);
    const script = writeLuaScript(work);

    // The node: a failure here still lets the baselines run, and the report says why it is missing.
    let client: Client | undefined;
    let nodeError: string | undefined;
    try {
      log("the chain (anvil) and the deployment…");
      const nodePort = await freePort();
      world = await startEngineWorld(`http://127.0.0.1:${nodePort}`);
      log("the storage node…");
      node = await startEngineNode({
        world,
        port: nodePort,
        dir: join(work, "node"),
        profile: process.env.DDC_BENCH_ENGINE_PROFILE === "1",
      });
      client = await appClient(world);
      checkFastSign(client);
      log(`writing the ${2 * OBJECTS} objects through the node's API…`);
      await writeObjects(client, node, files);
      servers.push({ name: "ddc", origin: node.origin, pid: node.pid, stop: () => Promise.resolve() });
      // The same node with no checked copies in memory (`data.cache.bytes: 0`): every GET reads the
      // disk and hashes its leaves. A second process of the same registered node, its own data.
      log("the same node without its cache of checked objects…");
      uncached = await startEngineNode({
        world,
        port: await freePort(),
        url: node.origin,
        dir: join(work, "node-uncached"),
        cacheBytes: 0,
      });
      await writeObjects(client, uncached, files);
      servers.push({ name: "ddc-uncached", origin: uncached.origin, pid: uncached.pid, stop: () => Promise.resolve() });
    } catch (error) {
      nodeError = (error as Error).message.split("\n").slice(0, 6).join(" ");
      log(`the node is left out: ${nodeError}`);
      client = undefined;
    }

    log("nginx and Node's plain http…");
    servers.push(await startNginx(nginx, join(work, "nginx"), files, await freePort()));
    servers.push(await startNodeHttp(files, await freePort()));

    // GET: per size, a warm-up round then RUNS rounds, the servers one after the other in each
    // round (they share the machine's noise).
    const gets = new Map<string, LoadResult[]>();
    const getAuth = new Map<string, AuthCounts>(SIZES.map((size) => [size.label, { checks: 0, hits: 0 }]));
    for (const size of SIZES) {
      for (let round = 0; round <= RUNS; round++) {
        for (const s of servers) {
          const requests =
            s.name.startsWith("ddc") && client !== undefined
              ? signedGets(client, size)
              : Array.from({ length: OBJECTS }, (_, i) => ({
                  method: "GET" as const,
                  path: `/${objectKey(size, i)}`,
                  headers: {},
                }));
          const file = join(work, `get-${s.name}-${size.label}.txt`);
          writeRequests(file, requests);
          log(`GET ${size.text} ${s.name} ${round === 0 ? "warm-up" : `run ${round}`}…`);
          const wrk = () => runWrk(script, file, s.origin, round === 0 ? WARMUP_S : RUN_S);
          const r =
            s.name === "ddc" && node !== undefined && round > 0
              ? await countAuth(node, getAuth.get(size.label)!, wrk)
              : await wrk();
          if (round > 0) gets.set(`${s.name}-${size.label}`, [...(gets.get(`${s.name}-${size.label}`) ?? []), r]);
        }
      }
    }

    // GET 4 KiB with a fresh signature per request (the node only): as the PUTs, each run's requests
    // signed just before it, three times the warm-up's rate; a thread that runs out would send some
    // again (cache hits), which the report flags.
    const fresh: LoadResult[] = [];
    const freshAuth: AuthCounts = { checks: 0, hits: 0 };
    if (node !== undefined && client !== undefined) {
      const size = SIZES[0];
      let rate = 10_000;
      for (let round = 0; round <= RUNS; round++) {
        const seconds = round === 0 ? WARMUP_S : RUN_S;
        const count = Math.ceil(rate * seconds * 3) + 4 * CONNECTIONS;
        const file = join(work, "get-fresh.txt");
        writeRequests(file, freshGets(client, size, count));
        log(`GET ${size.text} ddc, fresh signatures, ${round === 0 ? "warm-up" : `run ${round}`} (${fmt(count)})…`);
        const wrk = () => runWrk(script, file, node!.origin, seconds);
        const r = round === 0 ? await wrk() : await countAuth(node, freshAuth, wrk);
        if (round === 0) rate = r.reqPerSec;
        else fresh.push(r);
      }
    }

    // PUT (the node only): each run's requests signed just before it, enough for three times the
    // warm-up's rate (a thread that runs out sends some again: refused as replays, and reported).
    const puts = new Map<string, LoadResult[]>();
    if (node !== undefined && client !== undefined) {
      for (const size of SIZES) {
        let rate = size.bytes > 64 * 1024 ? 500 : 5_000;
        for (let round = 0; round <= RUNS; round++) {
          const seconds = round === 0 ? WARMUP_S : RUN_S;
          const count = Math.ceil(rate * seconds * 3) + 4 * CONNECTIONS;
          const file = join(work, `put-${size.label}.txt`);
          writeRequests(file, signedPuts(client, files, size, count));
          log(`PUT ${size.text} ddc ${round === 0 ? "warm-up" : `run ${round}`} (${fmt(count)} signed requests)…`);
          const r = await runWrk(script, file, node.origin, seconds);
          if (round === 0) rate = r.reqPerSec;
          else puts.set(size.label, [...(puts.get(size.label) ?? []), r]);
        }
      }
    }

    log("SHA-256 of the same bytes…");
    const sha = sha256MsPerMiB(files);

    let profile: ProfileSummary | undefined;
    if (node !== undefined) {
      await node.stop();
      const file = node.profiles()[0];
      if (file !== undefined) {
        profile = summariseProfile(file, ROOT);
        const kept = join(ROOT, "reports", "engine.cpuprofile");
        copyFileSync(file, kept);
        log(`the node's CPU profile: ${kept}`);
      }
    }
    writeReports({
      gets,
      getAuth,
      fresh,
      freshAuth,
      puts,
      sha,
      versions,
      load,
      node: node !== undefined && nodeError === undefined ? { describe: node.describe } : { error: nodeError ?? "" },
      profile,
    });
  } finally {
    for (const s of servers) await s.stop();
    if (node !== undefined) await node.stop();
    if (uncached !== undefined) await uncached.stop();
    if (world !== undefined) await world.chain.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const authLine = (a: AuthCounts | undefined) =>
  a === undefined
    ? "(not counted)"
    : `${fmt(a.checks)} ed25519 checks and ${fmt(a.hits)} cache hits ` +
      `(${a.checks + a.hits === 0 ? "–" : fmt((100 * a.hits) / (a.checks + a.hits), 1)} % hits)`;

function writeReports(m: Outcome): void {
  const rows: Row[] = [];
  const notes: string[] = [];
  const problems: string[] = [];
  const hasNode = !("error" in m.node);
  const hasUncached = hasNode && m.gets.has(`ddc-uncached-${SIZES[0].label}`);
  const servers = [...(hasNode ? ["ddc"] : []), ...(hasUncached ? ["ddc-uncached"] : []), "nginx", "node-http"];
  const get = (server: string, size: Size) => {
    const runs = m.gets.get(`${server}-${size.label}`);
    if (runs === undefined) throw new Error(`bench: no GET runs for ${server} ${size.label}`);
    return summarise(runs);
  };
  const mbPerSec = (reqPerSec: number, size: Size) => (reqPerSec * size.bytes) / 1e6;
  const push = (name: string, x: Measured, size: Size) => {
    rows.push({ name, value: round(x.reqPerSec, 0), unit: "req/s", n: RUNS });
    rows.push({ name: `${name}-mb-s`, value: round(mbPerSec(x.reqPerSec, size), 1), unit: "MB/s", n: RUNS });
    rows.push({ name: `${name}-p50`, value: round(x.p50Ms, 2), unit: "ms", n: RUNS });
    rows.push({ name: `${name}-p99`, value: round(x.p99Ms, 2), unit: "ms", n: RUNS });
    if (x.errors > 0) problems.push(`${name}: ${fmt(x.errors)} errors (status ≥ 400 or socket) over the runs`);
    if ((name.startsWith("put-") || name.endsWith("-fresh-sig")) && x.wrapped)
      problems.push(`${name}: a wrk thread ran out of signed requests and sent some again`);
  };
  const ratios: Row[] = [];
  for (const size of SIZES) {
    for (const server of servers) push(`get-${size.label}-${server}`, get(server, size), size);
    if (!hasNode) continue;
    const ddc = get("ddc", size).reqPerSec;
    ratios.push({
      name: `get-${size.label}-vs-nginx`,
      value: round(ddc / get("nginx", size).reqPerSec, 2),
      unit: "x",
      n: RUNS,
    });
    ratios.push({
      name: `get-${size.label}-vs-node-http`,
      value: round(ddc / get("node-http", size).reqPerSec, 2),
      unit: "x",
      n: RUNS,
    });
    if (!hasUncached) continue;
    const cold = get("ddc-uncached", size).reqPerSec;
    for (const base of ["nginx", "node-http"]) {
      ratios.push({
        name: `get-${size.label}-uncached-vs-${base}`,
        value: round(cold / get(base, size).reqPerSec, 2),
        unit: "x",
        n: RUNS,
      });
    }
  }
  if (m.fresh.length > 0) {
    const fresh = summarise(m.fresh);
    push("get-4kib-ddc-fresh-sig", fresh, SIZES[0]);
    ratios.push({
      name: "get-4kib-fresh-sig-vs-node-http",
      value: round(fresh.reqPerSec / get("node-http", SIZES[0]).reqPerSec, 2),
      unit: "x",
      n: RUNS,
    });
  }
  for (const size of SIZES) {
    const runs = m.puts.get(size.label);
    if (runs !== undefined) push(`put-${size.label}-ddc`, summarise(runs), size);
  }
  rows.unshift(...ratios);
  rows.push({ name: "sha256-per-mib", value: round(m.sha.ms, 2), unit: "ms", n: RUNS });

  const list = (runs: LoadResult[]) => runs.map((r) => fmt(r.reqPerSec)).join(", ");
  notes.push(
    `Load: ${m.versions.wrk}, ${THREADS} threads, ${CONNECTIONS} connections, keep-alive; per measurement a ` +
      `${WARMUP_S} s warm-up then ${RUNS} runs of ${RUN_S} s, the median (req/s, and each run's p50 and p99 from ` +
      "`wrk --latency`, their median). The Lua script (bench/engineLoad.ts) takes its requests from a file, one a " +
      `line: the node's carry the signed headers (\`${HEADER.session}\`, \`${HEADER.signature}\`, \`${HEADER.expires}\`, ` +
      "and for a PUT a nonce and the body's SHA-256), precomputed by the bench before each run. MB/s is payload: " +
      "req/s × the object's size (10^6 bytes).",
    `The servers, each in its own process on loopback, the same ${OBJECTS} + ${OBJECTS} files: ` +
      ("error" in m.node ? "" : `the node (ddc: ${m.node.describe}); `) +
      `nginx ${m.versions.nginx} (one worker process, sendfile on, tcp_nopush, no access log); ` +
      "Node's plain `http` + `fs.createReadStream` (bench/engineStatic.ts, no auth, no checks). In each round the " +
      "servers ran one after the other, so that they share the machine's noise.",
    ...SIZES.flatMap((size) => servers.map((s) => `GET ${size.text} ${s}, req/s per run: ${list(get(s, size).runs)}.`)),
    ...(m.fresh.length > 0
      ? [
          "GET 4 KiB ddc with a fresh signature per request (`get-4kib-ddc-fresh-sig`): the same objects, each " +
            "request's target with a query parameter of its own (`?fresh=<n>`, ignored by the node, covered by " +
            "the signature), signed before the run, each sent once: the node's cache of verified GET signatures " +
            "never hits, so every request pays an ed25519 verification (node:crypto) on the event loop; " +
            `req/s per run: ${list(m.fresh)}. The plain \`get-4kib-ddc\` rows send the same 64 signed GETs ` +
            "round and round (a GET has no nonce), so after the first of each they hit that cache. " +
            `The node's own counters (\`ddc_node_auth_*\` on /metrics) over the measured runs: ` +
            `${authLine(m.getAuth.get("4kib"))} for \`get-4kib-ddc\`, ${authLine(m.getAuth.get("1mib"))} for ` +
            `\`get-1mib-ddc\`, ${authLine(m.freshAuth)} for \`get-4kib-ddc-fresh-sig\`.`,
        ]
      : []),
    ...SIZES.flatMap((size) => {
      const runs = m.puts.get(size.label);
      if (runs === undefined) return [];
      return [
        `PUT ${size.text} ddc (wrk, a fresh nonce and a distinct body each: the file's bytes, their last ` +
          `${SUFFIX_BYTES} replaced by a counter; the node fsyncs before it answers), req/s per run: ${list(runs)}.`,
      ];
    }),
  );
  if (hasNode) {
    const get1 = get(hasUncached ? "ddc-uncached" : "ddc", SIZES[1]);
    const hashShare = (m.sha.ms * get1.reqPerSec * (SIZES[1].bytes / 2 ** 20)) / 1000;
    rows.push({ name: "get-1mib-hash-share", value: round(hashShare, 2), unit: "core", n: RUNS });
    notes.push(
      "Where integrity checking is paid: the first GET of an object reads the Merkle leaves covering the " +
        "bytes it serves (64 KiB each: a range is widened to whole leaves) and hashes each one (the store's " +
        "`hashLeaf`, SHA-256 of 0x00 ‖ the leaf, node:crypto) against the leaf hashes recorded at the write, " +
        "before any header goes out; a mismatch quarantines the blob and answers 503, no byte sent. It runs " +
        "synchronously on the node's one event loop (ObjectStore.read), the thread that also parses, " +
        "authenticates and writes. " +
        `Its cost: ${fmt(m.sha.ms, 2)} ms per MiB on one core here (runs ${m.sha.runs.map((x) => fmt(x, 2)).join(", ")} ` +
        "ms, `sha256-per-mib`)" +
        (hasUncached
          ? `: at the uncached node's ${fmt(get1.reqPerSec)} GETs of 1 MiB a second, ${fmt(hashShare, 2)} of a core ` +
            "(`get-1mib-hash-share`), added to every such GET's latency. "
          : ". ") +
        "An object read whole and checked is then kept in memory, by SHA-256 (the node's `data.cache`: " +
        "256 MiB by default, objects up to 8 MiB, least recently used out; dropped at once when quarantined " +
        "or removed), and later GETs of it, whole or a range, are answered from that copy: no disk read, no " +
        "re-hash, one write of a buffer. The 64 + 64 objects here fit, so the `ddc` rows pay the check once per " +
        "object and the `ddc-uncached` rows (the same node with `data.cache.bytes: 0`, a second process on its " +
        "own copy of the objects) pay it on every GET. What a copy in memory does not notice is the disk going " +
        "bad under it; the scrub re-reads every blob from the disk (never from memory) and drops a bad one " +
        "from memory when it quarantines it.",
    );
  } else {
    notes.push(`**The node is missing from this run**: ${"error" in m.node ? m.node.error : ""}`);
  }
  if (m.profile !== undefined) {
    const p = m.profile;
    const busy = p.totalMs - p.idleMs;
    const pct = (ms: number) => `${fmt((100 * ms) / busy, 1)} %`;
    notes.push(
      `The node's CPU profile over the whole run (\`--cpu-prof\`, reports/engine.cpuprofile): ${fmt(busy / 1000, 1)} s ` +
        `busy of ${fmt(p.totalMs / 1000, 1)} s. Self time by package: ` +
        p.packages.map((x) => `${x.name} ${pct(x.ms)}`).join(", ") +
        ". By function: " +
        p.functions.map((x) => `${x.name} ${pct(x.ms)}`).join(", ") +
        ".",
    );
  }
  notes.push(
    `The machine: ${cpus().length} cores (wrk, the servers and the chain share them), load average ${fmt(m.load, 1)} ` +
      "when the run began: compare the ratios rather than req/s.",
  );
  if (problems.length > 0) notes.push(`**Problems**: ${problems.join("; ")}.`);

  const met = (r: Row) => {
    const t = TARGETS[r.name];
    return t === undefined ? "" : t.ok(r.value) ? "yes" : "**no**";
  };
  const digits = (r: Row) => (r.unit === "x" || r.unit === "core" || r.unit === "ms" ? 2 : r.unit === "MB/s" ? 1 : 0);
  const dir = join(ROOT, "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "engine.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# The storage node's data plane",
    "",
    `Measured by \`npm run bench:engine\` (Node ${process.version}). Wall-clock figures are medians on whatever ` +
      "machine ran them; compare `get-1mib-vs-nginx` and `get-4kib-vs-node-http`, measured in the same run, " +
      "across machines rather than req/s.",
    "",
    "| name | value | unit | n | target | met |",
    "|---|---:|---|---:|---|:---:|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.value, digits(r))} | ${r.unit} | ${r.n} | ${TARGETS[r.name]?.text ?? ""} | ${met(r)} |`,
    ),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "engine.md"), md);

  console.log("");
  for (const r of rows) {
    console.log(
      [
        r.name.padEnd(26),
        fmt(r.value, digits(r)).padStart(10),
        r.unit.padEnd(6),
        (TARGETS[r.name]?.text ?? "").padEnd(8),
        met(r).replaceAll("*", ""),
      ].join("  "),
    );
  }
  console.log("");
  console.log("Written: reports/engine.json, reports/engine.md");
  const missed = rows.filter((r) => met(r).startsWith("**no**"));
  if (missed.length > 0) {
    console.log(`Targets missed: ${missed.map((r) => r.name).join(", ")}`);
    process.exitCode = 1;
  }
  if (!hasNode || problems.length > 0) {
    console.log(`Problems: ${[...(hasNode ? [] : ["the node did not run"]), ...problems].join("; ")}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
