import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet } from "ethers";
import pino from "pino";
import { exampleFixture, NODE_PARAMS } from "../../helpers/fixtures";
import { ConfigError, loadConfig, parseConfig, type NodeConfig } from "../../../storage-node/src/config";
import { FaultsError } from "../../../storage-node/src/faults";
import { NotRegisteredError, startStorageNode } from "../../../storage-node/src/main";
import { checkRegistration } from "../../../storage-node/src/register";
import type { ObjectRecord } from "../../../storage-node/src/ports";
import { ALL_OPS, storageDomain } from "../../../storage-node/src/protocol";
import { openNodeStore } from "../../../storage-node/src/nodeStore";
import { appSession, newSessionKey, signRequest } from "./helpers";

const EXAMPLE = join(__dirname, "../../../storage-node/config.example.json");
const KEY = "0x" + "11".repeat(32);

function configFor(
  core: string,
  overrides: Partial<{ url: string; capacity: string; version: string; scrubS: number }> = {},
): NodeConfig {
  const raw = JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, Record<string, unknown>>;
  raw.chain.core = core;
  raw.node = {
    key: { env: "DDC_NODE_KEY" },
    url: overrides.url ?? NODE_PARAMS.urls[0],
    capacity: overrides.capacity ?? "1000",
    rent: "1000000",
    version: overrides.version ?? "1.0.0",
  };
  raw.data.dir = mkdtempSync(join(tmpdir(), "ddc-node-"));
  // The Hardhat chain's time runs ahead of the clock (other tests move it): no clock check.
  raw.server = { host: "127.0.0.1", port: 0, clockCheck: false };
  raw.ops = { host: "127.0.0.1", port: 0 };
  // One node of the fixture's cluster runs here: writes are this node's copy only.
  raw.replication = { enabled: false };
  if (overrides.scrubS !== undefined) raw.scrub = { intervalS: overrides.scrubS };
  return parseConfig(raw, "node.json", { DDC_NODE_KEY: KEY });
}

describe("storage node configuration", () => {
  it("the example file is valid (with its keystore password set); defaults and paths resolved", () => {
    const c = loadConfig(EXAMPLE, { DDC_NODE_KEYSTORE_PASSWORD: "x" });
    expect(c.node.capacity).to.equal(1000n);
    expect(c.node.rent).to.equal(1_000_000n);
    expect(c.node.key).to.deep.equal({
      kind: "keystore",
      file: join(__dirname, "../../../storage-node/node-key.json"),
      passwordEnv: "DDC_NODE_KEYSTORE_PASSWORD",
    });
    expect(c.server.bodyLimitBytes).to.equal(64 * 1024 * 1024);
    expect(c.data.cache).to.deep.equal({ bytes: 256 * 1024 * 1024, maxObjectBytes: 8 * 1024 * 1024 });
    expect(c.qos).to.deep.equal({ manifestEras: 8 });
    expect(c.node.version).to.equal(JSON.parse(readFileSync(join(__dirname, "../../../package.json"), "utf8")).version);
    expect(c.logLevel).to.equal("info");
  });

  it("lists every bad field with its path and names the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "ddc-cfg-"));
    const file = join(dir, "bad.json");
    const raw = JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, Record<string, unknown>>;
    raw.chain.core = "0x12";
    raw.node.capacity = 1000;
    raw.data.blobs = { kind: "ftp" };
    raw.data.cache = { bytes: -1, maxObjectBytes: 65 * 1024 * 1024 };
    raw.ops = { host: "0.0.0.0", port: 8080 };
    raw.qos = { manifestEras: 0 };
    raw.extra = {};
    writeFileSync(file, JSON.stringify(raw));
    try {
      loadConfig(file, {});
      expect.fail("no error");
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      const e = error as ConfigError;
      expect(e.message).to.include(file);
      expect(e.problems).to.include("chain.core: an address (0x + 40 hex digits)");
      expect(e.problems).to.include("node.capacity: a whole number as a decimal string");
      expect(e.problems).to.include('data.blobs.kind: one of "fs" or "s3"');
      expect(e.problems).to.include("data.cache.bytes: Too small: expected number to be >=0");
      expect(e.problems).to.include("data.cache.maxObjectBytes: Too big: expected number to be <=67108864");
      expect(e.problems).to.include("qos.manifestEras: Too small: expected number to be >=1");
      expect(e.problems.some((p) => p.startsWith("(the file): Unrecognized key") && p.includes("extra"))).to.equal(
        true,
      );
    }
  });

  it("a missing key variable, a clash of ports, a missing file", () => {
    const raw = JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, Record<string, unknown>>;
    raw.ops = { host: "0.0.0.0", port: 8090 };
    expect(() => parseConfig(raw, "n.json", { DDC_NODE_KEYSTORE_PASSWORD: "x" }))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.deep.equals(["ops.port: the same as server.port (8090)"]);
    raw.ops = { host: "127.0.0.1", port: 9465 };
    expect(() => parseConfig(raw, "n.json", {}))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.deep.equals([
        "node.key.passwordEnv: the environment variable DDC_NODE_KEYSTORE_PASSWORD (the keystore's password) is not set",
      ]);
    expect(() => loadConfig("/nonexistent/n.json"))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.deep.equals(["no such file"]);
  });
});

describe("storage node start, registration and stop", function () {
  this.timeout(60_000);
  const logger = pino({ level: "silent" });

  it("refuses to start with an unregistered key, naming the command to run", async () => {
    const f = await loadFixture(exampleFixture);
    const config = configFor(f.coreAddress);
    const err = await startStorageNode(config, { provider: ethers.provider, signer: new Wallet(KEY), logger }).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(NotRegisteredError);
    expect((err as Error).message)
      .to.include(new Wallet(KEY).address)
      .and.include("ddc node register --config");
  });

  it("compares the registration: says what differs; a URL not registered stops the start", async () => {
    const f = await loadFixture(exampleFixture);
    const key = new Wallet(KEY);
    await f.ddc.connect(f.provider1).nodeCreate(key.address, 1000n, 1_000_000n, NODE_PARAMS);
    const reg = await checkRegistration(
      f.ddc,
      key.address,
      configFor(f.coreAddress, { capacity: "2000", version: "2.0.0" }),
    );
    expect(reg).to.deep.equal({
      registered: true,
      id: 3,
      provider: f.provider1.address,
      differences: [
        { field: "version", chain: "1.0.0", config: "2.0.0" },
        { field: "capacity", chain: "1000", config: "2000" },
      ],
    });
    const bad = configFor(f.coreAddress, { url: "https://elsewhere.example" });
    const err = await startStorageNode(bad, { provider: ethers.provider, signer: key, logger }).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(NotRegisteredError);
    expect((err as Error).message).to.include(
      'url: registered "https://node.example:8080", configured "https://elsewhere.example"',
    );
  });

  it("serves, answers /health, /ready and /metrics, and on stop lets an in-flight request finish", async () => {
    const f = await loadFixture(exampleFixture);
    const { chainId } = await ethers.provider.getNetwork();
    const domain = storageDomain(chainId, f.coreAddress);
    const config = configFor(f.coreAddress);
    const { store } = await openNodeStore(config.data);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inRead = new Promise<void>((r) => (entered = r));
    const read = store.read.bind(store);
    store.read = async (o: ObjectRecord, s: number, e: number) => {
      entered();
      await gate;
      return read(o, s, e);
    };
    const node = await startStorageNode(config, {
      provider: ethers.provider,
      signer: f.nodeKey1 as never,
      logger,
      store,
      drainMs: 5000,
    });
    try {
      expect(node.id).to.equal(1);
      expect(await (await fetch(`${node.opsUrl}/health`)).json()).to.deep.equal({ status: "ok" });
      const ready = await fetch(`${node.opsUrl}/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.equal({ status: "ready" });
      const key = newSessionKey();
      const exp = Math.floor(Date.now() / 1000) + 300;
      const session = await appSession(f.owner1, domain, { bucket: 1n, key, operations: ALL_OPS, expiry: exp });
      const target = "/v1/buckets/1/objects/a";
      const put = await fetch(`${node.url}${target}`, {
        method: "PUT",
        body: "hello",
        // fetch sends a string body as text/plain;charset=UTF-8: the content type is signed.
        headers: signRequest(session, key, {
          method: "PUT",
          target,
          body: "hello",
          contentType: "text/plain;charset=UTF-8",
          expires: exp,
        }),
      });
      expect(put.status).to.equal(201);
      const inflight = fetch(`${node.url}${target}`, {
        headers: signRequest(session, key, { method: "GET", target, expires: exp, nonce: false }),
      });
      await inRead;
      const closed = node.close();
      // Stopping: not ready; new connections are refused while the request in flight finishes.
      await new Promise((r) => setTimeout(r, 50));
      const refused = await fetch(`${node.url}${target}`).catch((e: unknown) => e);
      expect(refused).to.be.instanceOf(Error);
      release();
      const res = await inflight;
      expect(res.status).to.equal(200);
      expect(await res.text()).to.equal("hello");
      const t1 = Date.now();
      await closed;
      // The drain ends with the request, not at the 5 s deadline or the keep-alive timeout.
      expect(Date.now() - t1).to.be.below(1000);
      expect(() => store.health()).to.throw("the store is closed");
      const metricsGone = await fetch(`${node.opsUrl}/metrics`).catch((e: unknown) => e);
      expect(metricsGone).to.be.instanceOf(Error);
    } finally {
      release();
      await node.close();
    }
  });

  it("/metrics exposes the node's series; /ready is 503 once the store is closed", async () => {
    const f = await loadFixture(exampleFixture);
    const node = await startStorageNode(configFor(f.coreAddress), {
      provider: ethers.provider,
      signer: f.nodeKey1 as never,
      logger,
    });
    const store = node.store;
    try {
      await fetch(`${node.url}/v1/buckets/1/objects/a`);
      const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
      expect(text).to.include(
        'ddc_node_requests_total{route="/v1/buckets/:bucket/objects/*",method="GET",status="401"} 1',
      );
      for (const name of [
        "ddc_node_blobs_quarantined 0",
        "ddc_node_repair_queue 0",
        "ddc_node_hint_queue 0",
        "ddc_node_request_duration_seconds_bucket",
        "ddc_node_bytes_out_total",
      ]) {
        expect(text).to.include(name);
      }
      store.close();
      const ready = await fetch(`${node.opsUrl}/ready`);
      expect(ready.status).to.equal(503);
      expect(await ready.json()).to.deep.equal({ status: "not-ready", problems: ["store: the store is closed"] });
    } finally {
      await node.close();
    }
  });

  it("builds its store from the data directory, and the scrub timer finds a corrupt blob: quarantined, counted, 503", async () => {
    const f = await loadFixture(exampleFixture);
    const { chainId } = await ethers.provider.getNetwork();
    const domain = storageDomain(chainId, f.coreAddress);
    const config = configFor(f.coreAddress, { scrubS: 1 });
    const node = await startStorageNode(config, { provider: ethers.provider, signer: f.nodeKey1 as never, logger });
    try {
      const key = newSessionKey();
      const exp = Math.floor(Date.now() / 1000) + 300;
      const session = await appSession(f.owner1, domain, { bucket: 1n, key, operations: ALL_OPS, expiry: exp });
      const target = "/v1/buckets/1/objects/a";
      const body = "scrub me, please";
      const put = await fetch(`${node.url}${target}`, {
        method: "PUT",
        body,
        headers: signRequest(session, key, {
          method: "PUT",
          target,
          body,
          contentType: typeof body === "string" ? "text/plain;charset=UTF-8" : undefined,
          expires: exp,
        }),
      });
      expect(put.status).to.equal(201);
      const sha = createHash("sha256").update(body).digest("hex");
      const file = join(config.data.dir, "blobs", sha.slice(0, 2), sha.slice(2, 4), sha);
      writeFileSync(file, "scrub me, PLEASE");
      const deadline = Date.now() + 5000;
      while (node.store.health().quarantined === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(node.store.health()).to.deep.equal({ quarantined: 1, repairs: 1, hints: 0 });
      const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
      expect(text).to.include("ddc_node_blobs_quarantined 1");
      expect(text).to.match(/ddc_node_scrub_corrupt_total 1/);
      const get = await fetch(`${node.url}${target}`, {
        headers: signRequest(session, key, { method: "GET", target, expires: exp, nonce: false }),
      });
      expect(get.status).to.equal(503);
      expect(await get.json()).to.deep.include({
        error: { code: "quarantined", message: `blob ${sha} is corrupt (missing): quarantined`, node: config.node.url },
      });
    } finally {
      await node.close();
    }
  });
  it("DDC_NODE_FAULTS: a bad value stops the start naming it; a good one is logged as a warning and acted on", async () => {
    const f = await loadFixture(exampleFixture);
    const { chainId } = await ethers.provider.getNetwork();
    const domain = storageDomain(chainId, f.coreAddress);
    const config = configFor(f.coreAddress);
    const start = (env: NodeJS.ProcessEnv, lines: string[] = []) =>
      startStorageNode(config, {
        provider: ethers.provider,
        signer: f.nodeKey1 as never,
        logger: pino({ level: "info" }, { write: (line: string) => lines.push(line) }),
        env,
      });
    const bad = await start({ DDC_NODE_FAULTS: '{"dropFraction":2}' }).catch((e: unknown) => e);
    expect(bad).to.be.instanceOf(FaultsError);
    expect((bad as Error).message).to.equal(
      "DDC_NODE_FAULTS: invalid faults: dropFraction: Too big: expected number to be <=1",
    );
    const notJson = await start({ DDC_NODE_FAULTS: "drop everything" }).catch((e: unknown) => e);
    expect((notJson as Error).message).to.match(/^DDC_NODE_FAULTS is not JSON: /);

    const key = newSessionKey();
    const exp = Math.floor(Date.now() / 1000) + 300;
    const session = await appSession(f.owner1, domain, { bucket: 1n, key, operations: ALL_OPS, expiry: exp });
    const target = "/v1/buckets/1/objects/a";
    const read = (url: string) =>
      fetch(`${url}${target}`, {
        headers: signRequest(session, key, { method: "GET", target, expires: exp, nonce: false }),
      });
    const faultLines = (lines: string[]) =>
      lines
        .map((l) => JSON.parse(l) as { level: number; msg: string; faults?: unknown })
        .filter((l) => l.msg.startsWith("fault injection"))
        .map(({ level, msg, faults }) => ({ level, msg, faults }));

    // Without the variable: no warning, the object is served.
    const plainLines: string[] = [];
    const plain = await start({}, plainLines);
    try {
      const put = await fetch(`${plain.url}${target}`, {
        method: "PUT",
        body: "hello",
        headers: signRequest(session, key, {
          method: "PUT",
          target,
          body: "hello",
          contentType: "text/plain;charset=UTF-8",
          expires: exp,
        }),
      });
      expect(put.status).to.equal(201);
      expect((await read(plain.url)).status).to.equal(200);
      expect(faultLines(plainLines)).to.deep.equal([]);
    } finally {
      await plain.close();
    }
    // With it: one warning listing the faults on, and the object is lost.
    const faultyLines: string[] = [];
    const faulty = await start({ DDC_NODE_FAULTS: '{"dropFraction":1,"delayMs":0}' }, faultyLines);
    try {
      expect(faultLines(faultyLines)).to.deep.equal([
        {
          level: 40,
          msg: "fault injection on (DDC_NODE_FAULTS): this node misbehaves on purpose, for tests and the demo only",
          faults: { dropFraction: 1 },
        },
      ]);
      expect((await read(faulty.url)).status).to.equal(404);
    } finally {
      await faulty.close();
    }
  });
});
