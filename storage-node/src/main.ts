import { mkdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { JsonRpcProvider, Wallet, type Provider } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { IDDC__factory } from "../../typechain-types";
import type { NodeConfig } from "./config";
import { describeConfig } from "./config";
import { CoreNodeChain } from "./coreChain";
import { NodeMetrics } from "./metrics";
import type { Authenticator, NodeChain, NodeStore, Replicator } from "./ports";
import { storageDomain } from "./protocol";
import { BLOCKING, checkRegistration, describeDifferences } from "./register";
import { buildNodeServer } from "./server";

/**
 * The storage node's composition root: the one place that builds its parts from the
 * configuration (the key, the chain view, the store, the authenticator, the server, the ops
 * server, the scrub timer) and wires them. `ddc node serve` and the tests come through here.
 */

export interface StartOptions {
  provider?: Provider;
  /** The node's signing key (default: from the configuration's keystore or DDC_NODE_KEY). */
  signer?: Wallet;
  logger?: Logger;
  /** The object store (built from `data` when the persistent store is in the build). */
  store?: NodeStore;
  /** The request authenticator (the auth module's RequestAuthenticator). */
  auth?: Authenticator;
  chain?: NodeChain;
  replicator?: Replicator;
  metrics?: NodeMetrics;
  env?: NodeJS.ProcessEnv;
  /** How long in-flight requests may take to finish on stop (ms). */
  drainMs?: number;
  /** More routes on the node's server, registered before it listens (the replication routes). */
  routes?: (app: FastifyInstance) => Promise<void>;
}

export interface RunningNode {
  url: string;
  opsUrl: string;
  id: number;
  /** Stops accepting, lets in-flight requests finish (up to the drain deadline), closes the store. */
  close(): Promise<void>;
}

/** The node's signing key: from the encrypted keystore (password in the environment) or DDC_NODE_KEY. */
export async function loadNodeKey(config: NodeConfig, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  if (config.node.key.kind === "env") {
    try {
      return new Wallet(env[config.node.key.name]!);
    } catch {
      throw new Error(`${config.node.key.name} is not a private key (32 bytes of hex)`);
    }
  }
  const { file, passwordEnv } = config.node.key;
  let json: string;
  try {
    json = readFileSync(file, "utf8");
  } catch {
    throw new Error(`no keystore file at ${file}`);
  }
  try {
    return (await Wallet.fromEncryptedJson(json, env[passwordEnv] ?? "")) as Wallet;
  } catch (error) {
    const wrong = /incorrect password/i.test((error as Error).message);
    throw new Error(`cannot open the keystore ${file}: ${wrong ? "wrong password" : (error as Error).message}`);
  }
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
  const logger = options.logger ?? nodeLogger(config.logLevel);
  const provider =
    options.provider ?? new JsonRpcProvider(config.chain.rpcUrl, undefined, { staticNetwork: false, cacheTimeout: -1 });
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

  if (options.store === undefined) {
    throw new Error("no object store: this build has no persistent store wired (pass one to startStorageNode)");
  }
  if (options.auth === undefined) {
    throw new Error("no request authenticator: this build has none wired (pass one to startStorageNode)");
  }
  mkdirSync(config.data.dir, { recursive: true });
  const store = options.store;
  const metrics = options.metrics ?? new NodeMetrics({ defaultMetrics: true });
  const chain = options.chain ?? new CoreNodeChain(ddc);
  const { chainId } = await provider.getNetwork();
  const { app, metering } = buildNodeServer({
    store,
    auth: options.auth,
    chain,
    node: { id: reg.id, url: config.node.url },
    signer,
    domain: storageDomain(chainId, config.chain.core),
    metrics,
    logger,
    replicator: options.replicator,
    bodyLimitBytes: config.server.bodyLimitBytes,
  });

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

  let stopping = false;
  const ops = buildOpsServer({ metrics, store, chain, ready: () => !stopping });
  await options.routes?.(app);
  await app.listen({ host: config.server.host, port: config.server.port });
  await ops.listen({ host: config.ops.host, port: config.ops.port });
  const url = addressOf(app);
  const opsUrl = addressOf(ops);
  logger.info({ node: reg.id, url, opsUrl, public: config.node.url }, "storage node serving");

  const drainMs = options.drainMs ?? 30_000;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopping = true;
      if (scrubTimer !== undefined) clearInterval(scrubTimer);
      logger.info({ drainMs }, "storage node stopping: draining in-flight requests");
      // close() stops accepting and waits for in-flight requests; past the deadline, sockets are cut.
      const deadline = setTimeout(() => app.server.closeAllConnections(), drainMs);
      // A keep-alive connection turns idle when its last request ends: close it then, not at its timeout.
      const idle = setInterval(() => app.server.closeIdleConnections(), 50);
      await app.close();
      clearTimeout(deadline);
      clearInterval(idle);
      await metering.stop();
      await ops.close();
      store.close();
      logger.info("storage node stopped");
    })());
  return { url, opsUrl, id: reg.id, close };
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
