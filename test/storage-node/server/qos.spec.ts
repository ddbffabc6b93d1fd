import { createHash } from "node:crypto";
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { verifyTypedData } from "ethers";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { CLUSTER_PARAMS, exampleFixture, USD } from "../../helpers/fixtures";
import { manifestPageMessage, manifestRoot, type ManifestEntry } from "../../../storage-node/src/bucketManifest";
import {
  faultsFromEnv,
  faultSelects,
  FaultsError,
  NO_FAULTS,
  parseFaults,
  type NodeFaults,
} from "../../../storage-node/src/faults";
import { NodeMetrics } from "../../../storage-node/src/metrics";
import { ViewNodeChain } from "../../../storage-node/src/nodeChain";
import type { PersistentNodeStore } from "../../../storage-node/src/nodeStore";
import type { NodeStore } from "../../../storage-node/src/ports";
import {
  ALL_OPS,
  CHALLENGE_TYPES,
  LEAF_BYTES,
  MANIFEST_PAGE_TYPES,
  PROBE_TYPES,
  storageDomain,
  type ErrorBody,
  type ChallengeResponse,
  type ListResult,
  type ManifestPage,
  type ProbeResponse,
  type UsageRecord,
} from "../../../storage-node/src/protocol";
import { buildNodeServer, eip712, type ServerLimits } from "../../../storage-node/src/server";
import type { Metering } from "../../../storage-node/src/metering";
import { leafHashes, toHex, verifyMerkleProof } from "../../../storage-node/src/store/merkle";
import { appSession, newSessionKey, realParts, signRequest, validatorSession, type SessionKey } from "./helpers";

const URL1 = "https://node.example:8080";

/**
 * The fixture's cluster 1 (nodes 1 and 2, both holding every key of bucket 1) with a validator,
 * and a second cluster (nodes 1 and 2, bucket 2) with a validator of its own.
 */
async function world() {
  const f = await exampleFixture();
  const validator = f.others[1];
  await f.ddc.connect(f.manager).clusterSetValidator(f.cluster, validator.address, true);
  await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, 100n);
  await f.ddc.connect(f.manager).clusterAddNode(2n, 1n, [7n]);
  await f.ddc.connect(f.manager).clusterAddNode(2n, 2n, [1n << 63n]);
  await f.ddc.connect(f.manager).clusterReserveResource(2n, 100n);
  await f.ddc.connect(f.owner1).bucketCreate(2n, "{}");
  await f.ddc.connect(f.owner1).accountDeposit(2n, 1000n * USD);
  await f.ddc.connect(f.owner1).bucketAllocIntoCluster(2n, 10n);
  const otherValidator = f.others[3];
  await f.ddc.connect(f.manager).clusterSetValidator(2n, otherValidator.address, true);
  const { chainId } = await ethers.provider.getNetwork();
  return { ...f, validator, otherValidator, domain: storageDomain(chainId, f.coreAddress) };
}

type World = Awaited<ReturnType<typeof world>>;

describe("storage node: what validators ask (manifests, probes, faults)", function () {
  this.timeout(60_000);
  let w: World;
  let parts: Awaited<ReturnType<typeof realParts>>;
  let store: PersistentNodeStore;
  let app: FastifyInstance;
  let metering: Metering;
  let metrics: NodeMetrics;
  let key: SessionKey;
  let session: string;
  let vkey: SessionKey;
  let vsession: string;
  /** The node's clock (ms): it decides the era the node is in. */
  let now: number;
  let eraLengthMs: number;
  let firstEra: number;
  const exp = () => Math.floor(Date.now() / 1000) + 300;

  /** A server over this test's parts (node 1) on the test's clock. */
  const serverOn = async (
    o: { limits?: Partial<ServerLimits>; store?: NodeStore; metrics?: NodeMetrics; faults?: Partial<NodeFaults> } = {},
  ) => {
    const built = buildNodeServer({
      store: o.store ?? store,
      auth: parts.auth,
      chain: new ViewNodeChain(parts.view, ethers.provider),
      node: { id: 1, url: URL1 },
      signer: w.nodeKey1,
      domain: w.domain,
      metrics: o.metrics ?? new NodeMetrics(),
      logger: pino({ level: "silent" }),
      usageFlushMs: 0,
      limits: o.limits,
      clock: () => now,
      faults: o.faults,
    });
    await built.app.ready();
    return built;
  };

  beforeEach(async () => {
    w = await loadFixture(world);
    parts = await realParts({ provider: ethers.provider, core: w.coreAddress, domain: w.domain, nodeId: 1 });
    store = parts.store;
    const era = (await parts.view.era(Number(w.cluster)))!;
    eraLengthMs = (await parts.view.cluster(Number(w.cluster)))!.eraLength * 1000;
    firstEra = era.era;
    now = era.start * 1000 + 1000;
    metrics = new NodeMetrics();
    ({ app, metering } = await serverOn({ metrics }));
    key = newSessionKey();
    session = await appSession(w.owner1, w.domain, { bucket: w.bucket, key, operations: ALL_OPS, expiry: exp() });
    vkey = newSessionKey();
    vsession = await validatorSession(w.validator, w.domain, { cluster: Number(w.cluster), key: vkey, expiry: exp() });
  });
  afterEach(async () => {
    await app?.close();
    parts?.close();
  });

  const put = (k: string, body: string, on = app) => {
    const target = `/v1/buckets/${w.bucket}/objects/${encodeURIComponent(k)}`;
    return on.inject({
      method: "PUT",
      url: target,
      payload: Buffer.from(body),
      headers: signRequest(session, key, {
        method: "PUT",
        target,
        body,
        contentType: "application/octet-stream",
        expires: exp(),
      }),
    });
  };
  const del = (k: string) => {
    const target = `/v1/buckets/${w.bucket}/objects/${encodeURIComponent(k)}`;
    return app.inject({
      method: "DELETE",
      url: target,
      headers: signRequest(session, key, { method: "DELETE", target, expires: exp() }),
    });
  };
  /** A signed GET (the validator's session unless given). */
  /** A signed GET or HEAD (the validator's session unless given). */
  const get = (
    target: string,
    o: { session?: string; key?: SessionKey; on?: FastifyInstance; method?: "GET" | "HEAD" } = {},
  ) =>
    (o.on ?? app).inject({
      method: o.method ?? "GET",
      url: target,
      headers: signRequest(o.session ?? vsession, o.key ?? vkey, {
        method: o.method ?? "GET",
        target,
        expires: exp(),
        nonce: false,
      }),
    });
  /** A validator's challenge of leaf `leafIndex` of `k` in bucket 1. */
  const challenge = (k: string, leafIndex: number, on = app) => {
    const payload = JSON.stringify({ seed: "s", bucket: w.bucket.toString(), key: k, leafIndex, nonce: "n" });
    const target = "/v1/qos/challenge";
    return on.inject({
      method: "POST",
      url: target,
      payload,
      headers: {
        "content-type": "application/json",
        ...signRequest(vsession, vkey, { method: "POST", target, body: payload, expires: exp() }),
      },
    });
  };
  const manifestPath = (era: number, q = "", bucket = w.bucket, cluster = Number(w.cluster)) =>
    `/v1/qos/manifest/${cluster}/${era}/${bucket}${q === "" ? "" : `?${q}`}`;

  const expectError = (
    res: { statusCode: number; json(): unknown },
    status: number,
    code: string,
    message?: string,
  ) => {
    expect(res.statusCode, JSON.stringify(res.json())).to.equal(status);
    const body = res.json() as ErrorBody;
    expect(body.error.code).to.equal(code);
    expect(body.error.node).to.equal(URL1);
    if (message !== undefined) expect(body.error.message).to.equal(message);
  };

  /** Ends the era the node is in: the metering sees it, the clock moves one era on, the metering snapshots. */
  const endEra = async () => {
    await metering.flush();
    now += eraLengthMs;
    await metering.flush();
  };

  /** The live entries of bucket 1, from the store's rows. */
  const liveEntries = (): ManifestEntry[] => store.manifest(w.bucket);

  /** Every page of a manifest, `limit` entries a page, following `next`. */
  const allPages = async (era: number, limit: number) => {
    const pages: { page: ManifestPage; startAfter: string }[] = [];
    let startAfter = "";
    for (;;) {
      const q = `${startAfter === "" ? "" : `start-after=${encodeURIComponent(startAfter)}&`}limit=${limit}`;
      const res = await get(manifestPath(era, q));
      expect(res.statusCode, res.body).to.equal(200);
      const page = res.json() as ManifestPage;
      pages.push({ page, startAfter });
      if (page.next === undefined) return pages;
      startAfter = page.next;
    }
  };

  const wire = (e: ManifestEntry) => ({
    key: e.key,
    version: e.version.toString(),
    sha256: e.sha256,
    size: e.size,
    root: e.root,
  });

  describe("GET /v1/qos/manifest", () => {
    it("pages a closed era's manifest; its root is the usage record's; each page is signed over ManifestPage", async () => {
      for (const [k, body] of [
        ["b", "bravo"],
        ["a/1", "alpha one"],
        ["é", "e acute"],
        ["Z", "zulu!"],
        ["c d", ""],
      ]) {
        expect((await put(k, body)).statusCode).to.equal(201);
      }
      const atEnd = liveEntries();
      expect(atEnd.map((e) => e.key)).to.deep.equal(["Z", "a/1", "b", "c d", "é"]);
      await endEra();
      // Changes after the era's end are not in its manifest.
      expect((await put("a/2", "later")).statusCode).to.equal(201);
      expect((await del("b")).statusCode).to.equal(200);

      const usage = await get(`/v1/usage/${w.cluster}/${firstEra}`);
      expect(usage.statusCode).to.equal(200);
      const record = usage.json() as UsageRecord;
      expect(record.buckets.map((b) => b.bucket)).to.deep.equal([w.bucket.toString()]);
      const root = manifestRoot(atEnd);
      expect(record.buckets[0]).to.include({ objects: 5, manifestRoot: root });

      const pages = await allPages(firstEra, 2);
      expect(pages.map((p) => p.page.entries.map((e) => e.key))).to.deep.equal([["Z", "a/1"], ["b", "c d"], ["é"]]);
      expect(pages.map((p) => p.startAfter)).to.deep.equal(["", "a/1", "c d"]);
      expect(pages.map((p) => p.page.next)).to.deep.equal(["a/1", "c d", undefined]);
      expect(pages.flatMap((p) => p.page.entries)).to.deep.equal(atEnd.map(wire));
      for (const { page, startAfter } of pages) {
        expect(page).to.include({
          node: 1,
          cluster: Number(w.cluster),
          era: firstEra,
          bucket: w.bucket.toString(),
          objects: 5,
          manifestRoot: root,
        });
        const entries = page.entries.map((e) => ({ ...e, version: BigInt(e.version) }));
        // The signed message, built by hand from the exact types.
        const message = {
          node: 1,
          cluster: Number(w.cluster),
          era: firstEra,
          bucket: w.bucket,
          objects: 5,
          manifestRoot: root,
          startAfter,
          pageRoot: manifestRoot(entries),
          next: page.next ?? "",
        };
        expect(manifestPageMessage(page, startAfter)).to.deep.equal(message);
        expect(verifyTypedData(w.domain, eip712(MANIFEST_PAGE_TYPES), message, page.signature)).to.equal(
          w.nodeKey1.address,
        );
      }
      // The page root binds the entries: a changed size no longer recovers to the node key.
      const { page, startAfter } = pages[0];
      const altered = { ...page, entries: [{ ...page.entries[0], size: page.entries[0].size + 1 }, page.entries[1]] };
      expect(
        verifyTypedData(
          w.domain,
          eip712(MANIFEST_PAGE_TYPES),
          manifestPageMessage(altered, startAfter),
          page.signature,
        ),
      ).to.not.equal(w.nodeKey1.address);
      // So does start-after: the same page claimed for another request does not recover.
      expect(
        verifyTypedData(w.domain, eip712(MANIFEST_PAGE_TYPES), manifestPageMessage(page, "A"), page.signature),
      ).to.not.equal(w.nodeKey1.address);
    });

    it("the current era: the live rows, the root of all of them, by default 1000 a page; next only when more follow", async () => {
      for (const k of ["k1", "k2", "k3"]) await put(k, `body of ${k}`);
      const res = await get(manifestPath(firstEra));
      expect(res.statusCode).to.equal(200);
      const page = res.json() as ManifestPage;
      expect(page.entries).to.deep.equal(liveEntries().map(wire));
      expect(page).to.include({ objects: 3, manifestRoot: manifestRoot(liveEntries()), era: firstEra });
      expect(page).to.not.have.property("next");
      expect(
        verifyTypedData(w.domain, eip712(MANIFEST_PAGE_TYPES), manifestPageMessage(page), page.signature),
      ).to.equal(w.nodeKey1.address);
      // A page that ends exactly at the last entry has no next.
      const exact = (await get(manifestPath(firstEra, "limit=3"))).json() as ManifestPage;
      expect(exact.entries).to.have.length(3);
      expect(exact).to.not.have.property("next");
      const first = (await get(manifestPath(firstEra, "limit=1"))).json() as ManifestPage;
      expect(first.next).to.equal("k1");
      // The root follows the live rows (no stale cache after a write or a delete).
      const usageRoot = async () =>
        ((await get(`/v1/usage/${w.cluster}/${firstEra}`)).json() as UsageRecord).buckets[0].manifestRoot;
      expect(await usageRoot()).to.equal(page.manifestRoot);
      await put("k0", "new");
      const after = (await get(manifestPath(firstEra, "start-after=k2"))).json() as ManifestPage;
      expect(after.entries.map((e) => e.key)).to.deep.equal(["k3"]);
      expect(after).to.include({ objects: 4, manifestRoot: manifestRoot(liveEntries()) });
      expect(after.manifestRoot).to.not.equal(page.manifestRoot);
      expect(await usageRoot()).to.equal(after.manifestRoot);
      await del("k0");
      const back = (await get(manifestPath(firstEra))).json() as ManifestPage;
      expect(back).to.include({ objects: 3, manifestRoot: page.manifestRoot });
    });

    it("the current era's root is computed once while the store does not change", async () => {
      for (const k of ["k1", "k2", "k3"]) await put(k, k);
      const manifest = store.manifest.bind(store);
      let computed = 0;
      store.manifest = (bucket: bigint) => {
        computed++;
        return manifest(bucket);
      };
      const pages = await allPages(firstEra, 1);
      expect(pages).to.have.length(3);
      expect(computed).to.equal(1);
      await put("k4", "k4");
      const page = (await get(manifestPath(firstEra, "start-after=k3"))).json() as ManifestPage;
      expect(computed).to.equal(2);
      expect(page).to.include({ objects: 4, manifestRoot: manifestRoot(manifest(w.bucket)) });
    });

    it("a bucket without objects: no entries, the root of one empty leaf", async () => {
      const res = await get(manifestPath(firstEra));
      expect(res.statusCode).to.equal(200);
      const page = res.json() as ManifestPage;
      expect(page).to.deep.include({ objects: 0, entries: [], manifestRoot: manifestRoot([]) });
    });

    it("keeps the last qos.manifestEras eras per bucket: an older or never-snapshotted era is 404", async () => {
      await app.close();
      ({ app, metering } = await serverOn({ limits: { manifestEras: 2 } }));
      await put("a", "1");
      const roots: string[] = [];
      for (let i = 0; i < 3; i++) {
        await put(`e${i}`, `era ${i}`);
        roots.push(manifestRoot(liveEntries()));
        await endEra();
      }
      expect(parts.store.meta.eraManifestEras(w.bucket)).to.deep.equal([firstEra + 1, firstEra + 2]);
      for (const i of [1, 2]) {
        const page = (await get(manifestPath(firstEra + i))).json() as ManifestPage;
        expect(page).to.include({ objects: i + 2, manifestRoot: roots[i] });
        expect(page.entries.map((e) => e.key)).to.deep.equal(["a", ...[0, 1, 2].slice(0, i + 1).map((j) => `e${j}`)]);
      }
      // Pruned: its usage figures stay, its manifest does not.
      const usage = (await get(`/v1/usage/${w.cluster}/${firstEra}`)).json() as UsageRecord;
      expect(usage.buckets[0].manifestRoot).to.equal(roots[0]);
      expectError(
        await get(manifestPath(firstEra)),
        404,
        "not-found",
        `node 1 keeps no manifest of bucket ${w.bucket} at the end of era ${firstEra} ` +
          "(it was not running then, or the era is older than the last 2 it keeps)",
      );
      // Two eras pass while the node looks once (as if it was down): the one it saw end is kept,
      // the one between has no snapshot.
      now += 2 * eraLengthMs;
      await metering.flush();
      expect(parts.store.meta.eraManifestEras(w.bucket)).to.deep.equal([firstEra + 2, firstEra + 3]);
      expect((await get(manifestPath(firstEra + 3))).statusCode).to.equal(200);
      expectError(
        await get(manifestPath(firstEra + 4)),
        404,
        "not-found",
        `node 1 keeps no manifest of bucket ${w.bucket} at the end of era ${firstEra + 4} ` +
          "(it was not running then, or the era is older than the last 2 it keeps)",
      );
    });

    it("an era that just ended is snapshotted when asked, before the next flush", async () => {
      await put("a", "1");
      await metering.flush();
      const atEnd = liveEntries();
      now += eraLengthMs;
      const res = await get(manifestPath(firstEra));
      expect(res.statusCode, res.body).to.equal(200);
      expect(res.json()).to.include({ objects: 1, manifestRoot: manifestRoot(atEnd) });
    });

    it("refusals: not a validator 403, a validator of another cluster 403, a bucket of another cluster 404", async () => {
      expectError(
        await get(manifestPath(firstEra), { session, key }),
        403,
        "forbidden",
        "manifests are for validators",
      );
      const ok = newSessionKey();
      const other = await validatorSession(w.otherValidator, w.domain, { cluster: 2, key: ok, expiry: exp() });
      expectError(
        await get(manifestPath(firstEra), { session: other, key: ok }),
        403,
        "forbidden",
        `manifests are for validators of cluster ${w.cluster}`,
      );
      const era2 = (await parts.view.era(2))!.era;
      expectError(
        await get(manifestPath(era2, "", w.bucket, 2), { session: other, key: ok }),
        404,
        "not-found",
        `bucket ${w.bucket} is not in cluster 2 (it is in ${w.cluster})`,
      );
      expectError(await get(manifestPath(firstEra, "", 99n)), 404, "not-found", "bucket 99 does not exist");
      // Unsigned: 401.
      const unsigned = await app.inject({ method: "GET", url: manifestPath(firstEra) });
      expect(unsigned.statusCode).to.equal(401);
    });

    it("bad requests: limit outside 1..10000, an unknown parameter, a malformed era, cluster or bucket, a future era", async () => {
      for (const q of ["limit=0", "limit=10001", "limit=x", "limit=1.5", "offset=3"]) {
        expectError(await get(manifestPath(firstEra, q)), 400, "bad-request");
      }
      expect((await get(manifestPath(firstEra, "limit=10000"))).statusCode).to.equal(200);
      expectError(
        await get(manifestPath(firstEra, "limit=10001")),
        400,
        "bad-request",
        "limit: Too big: expected number to be <=10000",
      );
      for (const path of [
        `/v1/qos/manifest/${w.cluster}/x/${w.bucket}`,
        `/v1/qos/manifest/${w.cluster}/01/${w.bucket}`,
        `/v1/qos/manifest/${w.cluster}/4294967296/${w.bucket}`,
        `/v1/qos/manifest/-1/${firstEra}/${w.bucket}`,
      ]) {
        expectError(await get(path), 400, "bad-request", "cluster and era must be uint32 in decimal");
      }
      expectError(
        await get(`/v1/qos/manifest/${w.cluster}/${firstEra}/x`),
        400,
        "bad-request",
        'bucket must be a uint64 in decimal, got "x"',
      );
      expectError(
        await get(manifestPath(firstEra + 1)),
        400,
        "bad-request",
        `era ${firstEra + 1} has not begun (now ${firstEra})`,
      );
    });
  });
  describe("GET /v1/qos/probe", () => {
    const nonce = "00112233445566778899aabbccddeeff";

    it("answers the nonce and the node's clock, signed over Probe, without using the store", async () => {
      // A store that throws on any use: a probe must not need it.
      const refusing = new Proxy(
        {},
        {
          get: (_t, name) => () => {
            throw new Error(`the store was used: ${String(name)}`);
          },
        },
      ) as NodeStore;
      const probeMetrics = new NodeMetrics();
      const built = await serverOn({ store: refusing, metrics: probeMetrics });
      try {
        now = 1_700_000_123_456;
        for (const n of [nonce, "ABCDEF0123456789", "f".repeat(64)]) {
          const res = await get(`/v1/qos/probe?nonce=${n}`, { on: built.app });
          expect(res.statusCode, res.body).to.equal(200);
          const answer = res.json() as ProbeResponse;
          expect(answer).to.deep.equal({ node: 1, nonce: n, at: 1_700_000_123_456, signature: answer.signature });
          expect(
            verifyTypedData(w.domain, eip712(PROBE_TYPES), { node: 1, nonce: n, at: now }, answer.signature),
          ).to.equal(w.nodeKey1.address);
          // Another time or nonce does not recover to the node key.
          expect(
            verifyTypedData(w.domain, eip712(PROBE_TYPES), { node: 1, nonce: n, at: now + 1 }, answer.signature),
          ).to.not.equal(w.nodeKey1.address);
        }
        const text = await probeMetrics.registry.metrics();
        expect(text).to.include('ddc_node_probes_total{outcome="answered"} 3');
      } finally {
        await built.app.close();
      }
    });

    it("counts in no bucket's usage", async () => {
      await put("a", "alpha");
      for (let i = 0; i < 3; i++) expect((await get(`/v1/qos/probe?nonce=${nonce}`)).statusCode).to.equal(200);
      await metering.flush();
      expect(store.meta.usage(firstEra)).to.deep.equal([]);
      // A read is counted: the check above would see one.
      expect((await get(`/v1/buckets/${w.bucket}/objects/a`, { session, key })).statusCode).to.equal(200);
      await metering.flush();
      expect(store.meta.usage(firstEra)).to.deep.equal([
        { bucket: w.bucket, era: firstEra, servedBytes: 5, requests: 1 },
      ]);
    });

    it("a nonce of 16 to 64 hex digits, nothing else: 400; not a validator: 403, counted as refused", async () => {
      const bad: [string, string][] = [
        ["", "nonce: Invalid input: expected string, received undefined"],
        ["?nonce=" + "a".repeat(15), "nonce: 16 to 64 hex digits"],
        ["?nonce=" + "a".repeat(65), "nonce: 16 to 64 hex digits"],
        ["?nonce=" + "g".repeat(16), "nonce: 16 to 64 hex digits"],
        ["?nonce=0x" + "a".repeat(16), "nonce: 16 to 64 hex digits"],
      ];
      for (const [q, message] of bad) {
        expectError(await get(`/v1/qos/probe${q}`), 400, "bad-request", message);
      }
      const extra = await get(`/v1/qos/probe?nonce=${nonce}&x=1`);
      expectError(extra, 400, "bad-request");
      expect((extra.json() as ErrorBody).error.message).to.include("Unrecognized key");
      expectError(
        await get(`/v1/qos/probe?nonce=${nonce}`, { session, key }),
        403,
        "forbidden",
        "probes are for validators",
      );
      // A validator, but of a cluster that does not hold this node (anyone may create one): 421, refused.
      await w.ddc.connect(w.manager).clusterCreate(w.manager.address, CLUSTER_PARAMS, 100n);
      const empty = Number(await w.ddc.clusterCount());
      await w.ddc.connect(w.manager).clusterSetValidator(empty, w.otherValidator.address, true);
      const ok = newSessionKey();
      const other = await validatorSession(w.otherValidator, w.domain, { cluster: empty, key: ok, expiry: exp() });
      expectError(
        await get(`/v1/qos/probe?nonce=${nonce}`, { session: other, key: ok }),
        421,
        "not-in-cluster",
        `node 1 is not in cluster ${empty}`,
      );
      // The same for usage records of that cluster.
      expectError(
        await get(`/v1/usage/${empty}/0`, { session: other, key: ok }),
        421,
        "not-in-cluster",
        `node 1 is not in cluster ${empty}`,
      );
      const text = await metrics.registry.metrics();
      expect(text).to.include('ddc_node_probes_total{outcome="refused"} 2');
      expect(text).to.not.include('ddc_node_probes_total{outcome="answered"}');
    });
  });
  describe("fault injection", () => {
    const objectPath = (k: string) => `/v1/buckets/${w.bucket}/objects/${k}`;
    /** The selection rule, recomputed: SHA-256("<salt><bucket>/<key>") mod 10,000 below fraction × 10,000. */
    const selected = (salt: string, fraction: number, k: string) =>
      BigInt(`0x${createHash("sha256").update(`${salt}${w.bucket}/${k}`).digest("hex")}`) % 10_000n <
      BigInt(fraction * 10_000);
    const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`);

    it("dropFraction: selected keys answer 404 to GET, HEAD and challenges, and stay in lists, manifests and usage", async () => {
      await app.close();
      ({ app, metering } = await serverOn({ faults: { dropFraction: 0.5 } }));
      for (const k of keys) expect((await put(k, `content of ${k}`)).statusCode).to.equal(201);
      const lost = keys.filter((k) => selected("", 0.5, k));
      const kept = keys.filter((k) => !selected("", 0.5, k));
      expect(lost.length).to.be.within(1, 19);
      expect(keys.filter((k) => faultSelects("", 0.5, w.bucket, k))).to.deep.equal(lost);
      for (const k of lost) {
        expectError(await get(objectPath(k), { session, key }), 404, "not-found", `no object "${k}" in bucket 1`);
        expect((await get(objectPath(k), { session, key, method: "HEAD" })).statusCode).to.equal(404);
        expectError(await get(`${objectPath(k)}?leaves=1`, { session, key }), 404, "not-found");
        expectError(await challenge(k, 0), 404, "not-found", `no object "${k}" in bucket 1`);
      }
      for (const k of kept) {
        const res = await get(objectPath(k), { session, key });
        expect(res.statusCode).to.equal(200);
        expect(res.body).to.equal(`content of ${k}`);
        expect((await challenge(k, 0)).statusCode).to.equal(200);
      }
      const list = (await get(`/v1/buckets/${w.bucket}/objects`, { session, key })).json() as ListResult;
      expect(list.objects).to.have.length(20);
      const page = (await get(manifestPath(firstEra))).json() as ManifestPage;
      expect(page.entries).to.deep.equal(liveEntries().map(wire));
      expect(page.objects).to.equal(20);
      const usage = (await get(`/v1/usage/${w.cluster}/${firstEra}`)).json() as UsageRecord;
      expect(usage.buckets[0]).to.include({
        objects: 20,
        storedBytes: String(keys.reduce((n, k) => n + `content of ${k}`.length, 0)),
        manifestRoot: manifestRoot(liveEntries()),
      });
    });

    it("dropFraction 1 loses every key, 0 none", async () => {
      await put("a", "alpha");
      const all = await serverOn({ faults: { dropFraction: 1 } });
      const none = await serverOn({ faults: { dropFraction: 0 } });
      try {
        expect((await get(objectPath("a"), { session, key, on: all.app })).statusCode).to.equal(404);
        expect((await get(objectPath("a"), { session, key, on: none.app })).statusCode).to.equal(200);
      } finally {
        await all.app.close();
        await none.app.close();
      }
    });

    it("wrongBytesFraction: a challenge answers the leaf with a byte flipped, its proof and signature over the true leaf hash", async () => {
      const body = Buffer.alloc(2 * LEAF_BYTES + 10, 7);
      await put("big", body.toString("latin1"));
      await put("empty", "");
      const faulty = await serverOn({ faults: { wrongBytesFraction: 1 } });
      try {
        const res = await challenge("big", 1, faulty.app);
        expect(res.statusCode, res.body).to.equal(200);
        const a = res.json() as ChallengeResponse;
        const truth = body.subarray(LEAF_BYTES, 2 * LEAF_BYTES);
        const leaf = Buffer.from(a.leaf, "base64");
        expect(leaf.length).to.equal(LEAF_BYTES);
        expect(leaf[0]).to.equal(7 ^ 0xff);
        expect(leaf.subarray(1).equals(truth.subarray(1))).to.equal(true);
        const trueHash = toHex(leafHashes(truth)[0]);
        expect(toHex(leafHashes(leaf)[0])).to.not.equal(trueHash);
        expect(verifyMerkleProof({ leafHash: trueHash, index: 1, count: 3, proof: a.proof, root: a.root })).to.equal(
          true,
        );
        const signed = {
          node: 1,
          seed: "s",
          nonce: "n",
          bucket: w.bucket,
          key: "big",
          version: a.version,
          leafIndex: 1,
          leafHash: `0x${trueHash}`,
          root: `0x${a.root}`,
        };
        expect(verifyTypedData(w.domain, eip712(CHALLENGE_TYPES), signed, a.signature)).to.equal(w.nodeKey1.address);
        // An empty object's leaf has no byte to flip: one zero byte is answered.
        const empty = (await challenge("empty", 0, faulty.app)).json() as ChallengeResponse;
        expect(empty.leaf).to.equal(Buffer.alloc(1).toString("base64"));
        // Reads are not touched, nor is the cached copy a later honest answer reads.
        const read = await get(objectPath("big"), { session, key, on: faulty.app });
        expect(Buffer.from(read.rawPayload).equals(body)).to.equal(true);
        const honest = (await challenge("big", 1)).json() as ChallengeResponse;
        expect(Buffer.from(honest.leaf, "base64").equals(truth)).to.equal(true);
      } finally {
        await faulty.app.close();
      }
    });

    it("wrongBytesFraction selects keys with its own salt", async () => {
      for (const k of keys) await put(k, `content of ${k}`);
      const faulty = await serverOn({ faults: { wrongBytesFraction: 0.5 } });
      try {
        const wrong = keys.filter((k) => selected("wrong-bytes/", 0.5, k));
        expect(wrong.length).to.be.within(1, 19);
        // Not the keys dropFraction would select.
        expect(wrong).to.not.deep.equal(keys.filter((k) => selected("", 0.5, k)));
        for (const k of keys) {
          const a = (await challenge(k, 0, faulty.app)).json() as ChallengeResponse;
          const answered = Buffer.from(a.leaf, "base64").toString();
          expect(answered === `content of ${k}`, k).to.equal(!wrong.includes(k));
        }
      } finally {
        await faulty.app.close();
      }
    });

    it("delayMs holds every /v1/qos/* answer, errors included, and nothing else", async () => {
      await put("a", "alpha");
      const slow = await serverOn({ faults: { delayMs: 400 } });
      const timed = async (f: () => Promise<{ statusCode: number }>) => {
        const t = Date.now();
        const res = await f();
        return { status: res.statusCode, ms: Date.now() - t };
      };
      try {
        const probe = await timed(() => get("/v1/qos/probe?nonce=00112233445566778899", { on: slow.app }));
        expect(probe.status).to.equal(200);
        expect(probe.ms).to.be.at.least(400);
        const refused = await timed(() =>
          get("/v1/qos/probe?nonce=00112233445566778899", { session, key, on: slow.app }),
        );
        expect(refused.status).to.equal(403);
        expect(refused.ms).to.be.at.least(400);
        const page = await timed(() => get(manifestPath(firstEra), { on: slow.app }));
        expect(page.status).to.equal(200);
        expect(page.ms).to.be.at.least(400);
        const challenged = await timed(() => challenge("a", 0, slow.app));
        expect(challenged.status).to.equal(200);
        expect(challenged.ms).to.be.at.least(400);
        const read = await timed(() => get(objectPath("a"), { session, key, on: slow.app }));
        expect(read.status).to.equal(200);
        expect(read.ms).to.be.below(400);
      } finally {
        await slow.app.close();
      }
    });

    it("inflateUsageBytes adds to every bucket's storedBytes, objects and manifest root unchanged", async () => {
      await put("a", "alpha");
      await put("b", "bravo!");
      const lying = await serverOn({ faults: { inflateUsageBytes: 1_000_000 } });
      try {
        const record = async (era: number, on: FastifyInstance) =>
          (await get(`/v1/usage/${w.cluster}/${era}`, { on })).json() as UsageRecord;
        const honest = await record(firstEra, app);
        const lied = await record(firstEra, lying.app);
        expect(honest.buckets[0].storedBytes).to.equal("11");
        expect(lied.buckets).to.deep.equal([{ ...honest.buckets[0], storedBytes: "1000011" }]);
        // A closed era too; and the record is signed as sent.
        await endEra();
        const closed = await record(firstEra, lying.app);
        expect(closed.buckets[0]).to.include({
          storedBytes: "1000011",
          objects: 2,
          manifestRoot: honest.buckets[0].manifestRoot,
        });
      } finally {
        await lying.app.close();
      }
    });

    it("failProbes: probes answer 503, counted as failed; an app is still refused 403; other routes answer", async () => {
      const failing = await serverOn({ faults: { failProbes: true }, metrics });
      try {
        expectError(
          await get("/v1/qos/probe?nonce=00112233445566778899", { on: failing.app }),
          503,
          "internal",
          "node 1 failed to answer the probe",
        );
        expectError(
          await get("/v1/qos/probe?nonce=00112233445566778899", { session, key, on: failing.app }),
          403,
          "forbidden",
        );
        expect((await get(manifestPath(firstEra), { on: failing.app })).statusCode).to.equal(200);
        const text = await metrics.registry.metrics();
        expect(text).to.include('ddc_node_probes_total{outcome="failed"} 1');
        expect(text).to.include('ddc_node_probes_total{outcome="refused"} 1');
      } finally {
        await failing.app.close();
      }
    });

    it("no faults, or all of them off: every read, challenge, probe and usage figure is the true one", async () => {
      await put("a", "alpha");
      const off = await serverOn({ faults: { ...NO_FAULTS } });
      try {
        for (const on of [app, off.app]) {
          expect((await get(objectPath("a"), { session, key, on })).body).to.equal("alpha");
          const a = (await challenge("a", 0, on)).json() as ChallengeResponse;
          expect(Buffer.from(a.leaf, "base64").toString()).to.equal("alpha");
          expect((await get("/v1/qos/probe?nonce=00112233445566778899", { on })).statusCode).to.equal(200);
          const u = (await get(`/v1/usage/${w.cluster}/${firstEra}`, { on })).json() as UsageRecord;
          expect(u.buckets[0].storedBytes).to.equal("5");
        }
      } finally {
        await off.app.close();
      }
    });

    it("DDC_NODE_FAULTS: unset or empty is none; JSON checked field by field, naming the variable", () => {
      expect(faultsFromEnv({})).to.equal(undefined);
      expect(faultsFromEnv({ DDC_NODE_FAULTS: " " })).to.equal(undefined);
      expect(faultsFromEnv({ DDC_NODE_FAULTS: '{"dropFraction":0.25,"failProbes":true}' })).to.deep.equal({
        ...NO_FAULTS,
        dropFraction: 0.25,
        failProbes: true,
      });
      expect(() => faultsFromEnv({ DDC_NODE_FAULTS: "{drop" }))
        .to.throw(FaultsError)
        .with.property("message")
        .that.matches(/^DDC_NODE_FAULTS is not JSON: /);
      expect(() => faultsFromEnv({ DDC_NODE_FAULTS: '{"dropFraction":1.5,"delayMs":-1,"other":1}' }))
        .to.throw(FaultsError)
        .with.property("message")
        .that.equals(
          "DDC_NODE_FAULTS: invalid faults: dropFraction: Too big: expected number to be <=1; " +
            'delayMs: Too small: expected number to be >=0; (the value): Unrecognized key: "other"',
        );
      expect(() => parseFaults([], "options.faults"))
        .to.throw(FaultsError)
        .with.property("message")
        .that.equals("options.faults: invalid faults: (the value): Invalid input: expected object, received array");
    });
  });
});
