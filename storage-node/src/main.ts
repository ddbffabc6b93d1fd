import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Wallet, type Provider, type TypedDataDomain, type TypedDataField } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { loadKey } from "../../lib/keys";
import { IDDC__factory } from "../../typechain-types";
import type { NodeConfig } from "./config";
import { describeConfig } from "./config";
import { RequestAuthenticator } from "./auth/verify";
import { ChainView, type ChainViewOptions } from "./chain";
import { NodeMetrics } from "./metrics";
import { NodeClusters, ViewNodeChain } from "./nodeChain";
import { ChainClock } from "../../lib/chainClock";
import { connectRpc } from "../../lib/rpc";
import { openNodeStore, PersistentNodeStore } from "./nodeStore";
import type { NodeChain, NodeStore, Replicator } from "./ports";
import { RECEIPT_TYPES, receiptMessage, storageDomain } from "./protocol";
import { BLOCKING, checkRegistration, describeDifferences } from "./register";
import { ReplicationNode } from "./replication";
import { Periodic } from "./replication/replicator";
import { buildNodeServer } from "./server";
import { activeFaults, faultsFromEnv, FAULTS_ENV, parseFaults, type NodeFaults } from "./faults";

/**
 * The storage node's composition root: the one place that builds its parts from the
 * configuration (the key, the chain view, the store, the authenticator, the server, the ops
 * server, the scrub timer) and wires them. `ddc node serve` and the tests come through here.
 */

/** The node's parts, as a replication layer or extra routes need them. */
export interface NodeParts {
  id: number;
  signer: Wallet;
  domain: TypedDataDomain;
  store: PersistentNodeStore;
  /** The node's one chain reader (started; stopped on close). */
  view: ChainView;
  auth: RequestAuthenticator;
  metrics: NodeMetrics;
  logger: Logger;
}

export interface StartOptions {
  provider?: Provider;
  /** The node's signing key (default: from the configuration's keystore or DDC_NODE_KEY). */
  signer?: Wallet;
  logger?: Logger;
  /** The store, already open (default: opened from the configuration's `data`). */
  store?: PersistentNodeStore;
  /** Options of the chain view (polling, caching); the provider and core come from above. */
  chainView?: Omit<ChainViewOptions, "provider" | "core">;
  /** Writes to the other replicas (default: none, this node's copy only). */
  replicator?: Replicator | ((parts: NodeParts) => Replicator);
  /** Extra routes (replication's internal ones) on the API server, registered before it listens. */
  routes?: (app: FastifyInstance, parts: NodeParts) => void | Promise<void>;
  /** Called on close, before the store closes (a replication layer stops its loops). */
  onClose?: () => void | Promise<void>;
  metrics?: NodeMetrics;
  env?: NodeJS.ProcessEnv;
  /** How long in-flight requests may take to finish on stop (ms). */
  drainMs?: number;
  /** How often expired replay nonces are pruned (ms). */
  noncePruneMs?: number;
  /** Faults to inject (tests, the demo; see faults.ts): instead of the environment's DDC_NODE_FAULTS. */
  faults?: Partial<NodeFaults>;
}

export interface RunningNode {
  url: string;
  opsUrl: string;
  id: number;
  store: PersistentNodeStore;
  view: ChainView;
  /** Stops accepting, lets in-flight requests finish (up to the drain deadline), closes the store. */
  close(): Promise<void>;
}

/** The node's signing key: from the encrypted keystore (password in the environment) or DDC_NODE_KEY. */
export async function loadNodeKey(config: NodeConfig, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  return loadKey(config.node.key, env);
}

/** A JSON logger with the service's name; keys and passwords are redacted wherever they would appear. */
export function nodeLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "ddc-storage-node" },
      redact: { paths: ["privateKey", "*.privateKey", "password", "*.password"], censor: "[secret]" },
    },
    destination,
  );
}

/** Why `serve` refuses to start: a message naming what to run. */
export class NotRegisteredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotRegisteredError";
  }
}

/** Starts the node: checks its registration, serves the API and the ops endpoints, scrubs periodically. */
export async function startStorageNode(config: NodeConfig, options: StartOptions = {}): Promise<RunningNode> {
  // Read once, before anything starts: a bad value stops the start.
  const faults =
    options.faults !== undefined
      ? parseFaults(options.faults, "options.faults")
      : faultsFromEnv(options.env ?? process.env);
  const logger = options.logger ?? nodeLogger(config.logLevel);
  if (faults !== undefined) {
    logger.warn(
      { faults: activeFaults(faults) },
      `fault injection on (${options.faults !== undefined ? "options.faults" : FAULTS_ENV}): this node misbehaves on purpose, for tests and the demo only`,
    );
  }
  const provider = options.provider ?? (await connectRpc(config.chain.rpcUrl));
  const signer = options.signer ?? (await loadNodeKey(config, options.env));
  const ddc = IDDC__factory.connect(config.chain.core, provider);
  logger.info({ config: describeConfig(config), key: signer.address }, "storage node starting");

  const reg = await checkRegistration(ddc, signer.address, config);
  if (!reg.registered) {
    throw new NotRegisteredError(
      `no node is registered with the signing key ${signer.address}: the provider registers it with ` +
        "`ddc node register --config <this file>` (with the provider's key in DDC_PRIVATE_KEY or --keystore), then starts the node again",
    );
  }
  const blocking = reg.differences.filter((d) => BLOCKING.includes(d.field));
  if (blocking.length > 0) {
    throw new NotRegisteredError(
      `node ${reg.id} is registered differently:\n  ${describeDifferences(blocking).join("\n  ")}\n` +
        `fix the configuration, or let the provider change the node with \`ddc node update ${reg.id} --url ${config.node.url}\``,
    );
  }
  for (const line of describeDifferences(reg.differences))
    logger.warn({ node: reg.id }, `registration differs: ${line}`);

  mkdirSync(config.data.dir, { recursive: true });
  const metrics = options.metrics ?? new NodeMetrics({ defaultMetrics: true });
  const store =
    options.store ??
    (
      await openNodeStore(config.data, {
        env: options.env,
        onCorrupt: (e) =>
          logger.error({ sha256: e.sha256, detail: e.detail, objects: e.objects.length }, "corrupt blob quarantined"),
      })
    ).store;
  const view = new ChainView({ ...options.chainView, provider, core: config.chain.core });
  // The chain's time places requests in eras (usage records, manifests, challenge counts).
  const eraClock = new ChainClock(provider);
  let app: FastifyInstance | undefined;
  let ops: FastifyInstance | undefined;
  try {
    await view.start();
    await eraClock.start();
    const chain: NodeChain = new ViewNodeChain(view, provider);
    const { chainId } = await provider.getNetwork();
    const domain = storageDomain(chainId, config.chain.core);
    const auth = new RequestAuthenticator({
      chain: view,
      domain,
      nodeId: reg.id,
      // The authenticator asks whether the nonce was seen; the store answers whether it is new.
      seenNonce: (key, nonce, expires, now) => !store.useNonce(key, nonce, expires, now),
    });
    // Every row the node stores (its writes, replica writes, repair copies) keeps its signed receipt.
    store.objects.signReceipt = (row) =>
      signer.signTypedData(
        domain,
        RECEIPT_TYPES as unknown as Record<string, TypedDataField[]>,
        receiptMessage(reg.id, row),
      );
    metrics.watchAuth(auth.stats);
    const parts: NodeParts = { id: reg.id, signer, domain, store, view, auth, metrics, logger };
    // Replication runs unless the configuration turns it off or a test brings its own replicator.
    let replication: ReplicationNode | undefined;
    let replicator: Replicator | undefined;
    let clusters: NodeClusters | undefined;
    if (options.replicator !== undefined) {
      replicator = typeof options.replicator === "function" ? options.replicator(parts) : options.replicator;
    } else if (config.replication.enabled) {
      const fixed = config.replication.clusters;
      if (fixed === undefined) {
        clusters = new NodeClusters(provider, config.chain.core, reg.id, view);
        await clusters.refresh();
      }
      const found = clusters;
      replication = new ReplicationNode({
        self: reg.id,
        signer,
        domain,
        store: store.objects,
        chain: view,
        clusters: () => fixed ?? found?.current() ?? [],
        registry: metrics.registry,
        timeoutMs: config.replication.timeoutMs,
        hintIntervalMs: config.replication.hintIntervalMs,
        hintBackoffMs: config.replication.hintBackoffMs,
        hintMaxBackoffMs: config.replication.hintMaxBackoffMs,
        ringIntervalMs: config.replication.ringIntervalMs,
        antiEntropyIntervalMs: config.replication.antiEntropyIntervalS * 1000,
        onError: (what, e) => logger.warn({ err: e }, `${what} failed`),
      });
      replicator = replication.replicator;
      logger.info({ clusters: fixed ?? found?.current() }, "replication on");
    }
    const built = buildNodeServer({
      store,
      auth,
      chain,
      node: { id: reg.id, url: config.node.url },
      signer,
      domain,
      metrics,
      logger,
      replicator,
      bodyLimitBytes: config.server.bodyLimitBytes,
      clockCheck: config.server.clockCheck,
      eraClock: () => eraClock.now(),
      faults,
      limits: {
        requestTimeoutMs: config.server.requestTimeoutMs,
        connectionTimeoutMs: config.server.connectionTimeoutMs,
        keepAliveTimeoutMs: config.server.keepAliveTimeoutMs,
        headersTimeoutMs: config.server.headersTimeoutMs,
        maxRequestsPerSocket: config.server.maxRequestsPerSocket,
        minBodyBytesPerS: config.server.minBodyBytesPerS,
        bodyGraceMs: config.server.bodyGraceMs,
        challengesPerEra: config.server.challengesPerEra,
        manifestEras: config.qos.manifestEras,
      },
    });
    app = built.app;
    app.addHook("onClose", (_app, done) => {
      eraClock.stop();
      done();
    });
    await replication?.register(app, auth);
    await options.routes?.(app, parts);
    const background = backgroundWork(replication, clusters, config.replication.ringIntervalMs, logger);
    return await serve(config, { ...parts, app, metering: built.metering, chain, options, background });
  } catch (error) {
    view.stop();
    eraClock.stop();
    await app?.close().catch(() => undefined);
    await ops?.close().catch(() => undefined);
    store.close();
    throw error;
  }
}

/** Listens, runs the scrub timer, and stops it all on close. */
async function serve(
  config: NodeConfig,
  p: NodeParts & {
    app: FastifyInstance;
    metering: { stop(): Promise<void> | void };
    chain: NodeChain;
    options: StartOptions;
    background: { start(): void; stop(): Promise<void> };
  },
): Promise<RunningNode> {
  const { app, metering, store, view, chain, metrics, logger, options, background } = p;
  let scrubbing = false;
  const scrub = async () => {
    if (scrubbing) return;
    scrubbing = true;
    try {
      const r = await store.scrub((done, total) => metrics.scrubProgress.set(total === 0 ? 1 : done / total));
      metrics.scrubCorrupt.inc(r.corrupt);
      metrics.scrubRuns.inc({ outcome: "ok" });
      if (r.corrupt > 0)
        logger.error({ corrupt: r.corrupt, checked: r.checked }, "scrub found corrupt blobs: quarantined");
      else logger.info({ checked: r.checked }, "scrub done");
    } catch (error) {
      metrics.scrubRuns.inc({ outcome: "failed" });
      logger.error({ err: error }, "scrub failed");
    } finally {
      scrubbing = false;
    }
  };
  const scrubTimer =
    config.scrub.intervalS > 0 ? setInterval(() => void scrub(), config.scrub.intervalS * 1000) : undefined;
  scrubTimer?.unref();
  // Replay nonces are kept until their request expires: forget the expired ones every minute.
  const pruneNonces = () => {
    try {
      const n = store.meta.pruneNonces(Math.floor(Date.now() / 1000));
      if (n > 0) logger.debug({ pruned: n }, "expired nonces pruned");
    } catch (error) {
      logger.warn({ err: error }, "nonce pruning failed");
    }
  };
  const nonceTimer = setInterval(pruneNonces, options.noncePruneMs ?? 60_000);
  nonceTimer.unref();
  // A rejection nothing handled is logged and counted; the node goes on serving (when the process
  // has no handler of its own: one installed by the embedding program wins).
  const onRejection = (reason: unknown) => {
    metrics.unhandledRejections.inc();
    logger.error({ err: reason }, "unhandled promise rejection");
  };
  const ownsRejections = process.listenerCount("unhandledRejection") === 0;
  if (ownsRejections) process.on("unhandledRejection", onRejection);

  let stopping = false;
  const ops = buildOpsServer({ metrics, store, chain, ready: () => !stopping });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
    await ops.listen({ host: config.ops.host, port: config.ops.port });
  } catch (error) {
    if (scrubTimer !== undefined) clearInterval(scrubTimer);
    await ops.close().catch(() => undefined);
    throw error;
  }
  const url = addressOf(app);
  const opsUrl = addressOf(ops);
  logger.info({ node: p.id, url, opsUrl, public: config.node.url }, "storage node serving");
  background.start();

  const drainMs = options.drainMs ?? 30_000;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopping = true;
      if (scrubTimer !== undefined) clearInterval(scrubTimer);
      clearInterval(nonceTimer);
      if (ownsRejections) process.off("unhandledRejection", onRejection);
      logger.info({ drainMs }, "storage node stopping: draining in-flight requests");
      // close() stops accepting and waits for in-flight requests; past the deadline, sockets are cut.
      const deadline = setTimeout(() => app.server.closeAllConnections(), drainMs);
      // A keep-alive connection turns idle when its last request ends: close it then, not at its timeout.
      const idle = setInterval(() => app.server.closeIdleConnections(), 50);
      await app.close();
      clearTimeout(deadline);
      clearInterval(idle);
      await background.stop();
      await metering.stop();
      await ops.close();
      view.stop();
      await options.onClose?.();
      store.close();
      logger.info("storage node stopped");
    })());
  return { url, opsUrl, id: p.id, store, view, close };
}

/** Replication's loops and the refresh of the clusters it serves, started once the node listens. */
function backgroundWork(
  replication: ReplicationNode | undefined,
  clusters: NodeClusters | undefined,
  intervalMs: number,
  logger: Logger,
): { start(): void; stop(): Promise<void> } {
  const refresh =
    clusters === undefined
      ? undefined
      : new Periodic(
          () => clusters.refresh(),
          intervalMs,
          (e) => logger.warn({ err: e }, "cluster refresh failed"),
        );
  return {
    start() {
      refresh?.start();
      replication?.start();
    },
    async stop() {
      await refresh?.stop();
      await replication?.stop();
    },
  };
}

function addressOf(app: FastifyInstance): string {
  const a = app.server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

/** /health (the process answers), /ready (chain reachable, store open, registration checked), /metrics. */
export function buildOpsServer(deps: {
  metrics: NodeMetrics;
  store: NodeStore;
  chain: NodeChain;
  ready: () => boolean;
}): FastifyInstance {
  const ops = Fastify({ logger: false });
  ops.get("/health", async () => ({ status: "ok" }));
  ops.get("/ready", async (_req, reply) => {
    const problems: string[] = [];
    if (!deps.ready()) problems.push("stopping");
    try {
      await deps.chain.ping();
    } catch (error) {
      problems.push(`chain unreachable: ${(error as Error).message.split("\n")[0]}`);
    }
    try {
      deps.store.health();
    } catch (error) {
      problems.push(`store: ${(error as Error).message}`);
    }
    return problems.length === 0 ? { status: "ready" } : reply.code(503).send({ status: "not-ready", problems });
  });
  ops.get("/metrics", async (_req, reply) => {
    const h = deps.store.health();
    deps.metrics.quarantined.set(h.quarantined);
    deps.metrics.repairQueue.set(h.repairs);
    deps.metrics.hintQueue.set(h.hints);
    return reply.header("content-type", deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return ops;
}
