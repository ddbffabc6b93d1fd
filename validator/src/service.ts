import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getAddress, type Provider, type Signer } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { ChainView } from "../../storage-node/src/chain";
import { storageDomain } from "../../storage-node/src/protocol";
import { describeValidatorConfig, loadValidatorKey, type ValidatorConfig } from "./config";
import { ChainClock } from "../../lib/chainClock";
import { connectRpc } from "../../lib/rpc";
import { measureEra, type Clock, type EraMeasurement } from "./eraRun";
import { ValidatorMetrics } from "./metrics";
import { ValidatorSessions } from "./nodeApi";
import { postReport, type BotAnswer } from "./submit";
import type { EraOutcome } from "./types";

/**
 * The validator as a service: for each cluster it validates, era after era, it measures every
 * member ({@link measureEra}), signs the report in the bot's format, keeps a copy and a detail
 * file, and sends the report to every configured bot, trying again while a bot is away.
 */

export interface StartValidatorOptions {
  signer?: Signer;
  provider?: Provider;
  logger?: Logger;
  clock?: Clock;
  metrics?: ValidatorMetrics;
  env?: NodeJS.ProcessEnv;
  /** Called once per era done, after the report went out (or failed to). */
  onEra?: (outcome: EraOutcome) => void;
}

export interface RunningValidator {
  address: string;
  /** The ops server's origin (health, ready, metrics), when configured. */
  opsOrigin?: string;
  /** The eras reported so far. */
  outcomes: EraOutcome[];
  stop(): Promise<void>;
}

/** A JSON logger with the service's name; keys never appear. */
export function validatorLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "ddc-validator" },
      redact: { paths: ["privateKey", "*.privateKey", "password", "*.password"], censor: "[secret]" },
    },
    destination,
  );
}

/** How long after a bot says "early" (its chain has not seen the era's end) the report is sent again. */
const EARLY_RETRY_MS = 2_000;
const EARLY_TRIES = 15;

export async function startValidator(
  config: ValidatorConfig,
  options: StartValidatorOptions = {},
): Promise<RunningValidator> {
  const logger = options.logger ?? validatorLogger(config.logLevel);
  const provider = options.provider ?? (await connectRpc(config.chain.rpcUrl));
  // Eras are the chain's: probes, challenges and the era's end follow the chain's time.
  const chainClock = options.clock === undefined ? new ChainClock(provider, 250) : undefined;
  await chainClock?.start();
  const clock: Clock = options.clock ?? chainClock!;
  const signer = options.signer ?? (await loadValidatorKey(config, options.env));
  const address = getAddress(await signer.getAddress());
  const metrics = options.metrics ?? new ValidatorMetrics({ defaultMetrics: options.metrics === undefined });
  const { chainId } = await provider.getNetwork();
  const view = new ChainView({ provider, core: config.chain.core, ttlMs: 2_000 });
  await view.start();
  const sessions = new ValidatorSessions(signer, storageDomain(chainId, config.chain.core));
  const stopping = new AbortController();
  const outcomes: EraOutcome[] = [];
  mkdirSync(join(config.dataDir, "reports"), { recursive: true });
  logger.info({ config: describeValidatorConfig(config), validator: address }, "validator starting");

  const clusters = async (): Promise<number[]> => {
    if (config.clusters !== undefined) return config.clusters;
    // Every cluster naming this validator.
    const { IDDC__factory } = await import("../../typechain-types");
    const ddc = IDDC__factory.connect(config.chain.core, provider);
    const count = Number(await ddc.clusterCount());
    const mine: number[] = [];
    for (let id = 1; id <= count; id++) {
      const c = await view.cluster(id);
      if (c?.validators.includes(address) === true) mine.push(id);
    }
    return mine;
  };

  const submit = async (outcome: Omit<EraOutcome, "submitted">): Promise<EraOutcome["submitted"]> => {
    const results: EraOutcome["submitted"] = [];
    for (const bot of config.bots) {
      let answer: BotAnswer = { status: "unanswered", detail: "not sent" };
      for (let early = 0; early < EARLY_TRIES && !stopping.signal.aborted; early++) {
        answer = await postReport(outcome.report, bot.url, {
          attempts: config.submit.attempts,
          backoffMs: config.submit.backoffMs,
          timeoutMs: 30_000,
          progress: (line) => logger.warn({ bot: bot.url, cluster: outcome.cluster, era: outcome.era }, line),
        });
        if (answer.status !== "rejected" || answer.reason !== "early") break;
        await clock.sleep(EARLY_RETRY_MS, stopping.signal);
      }
      const ok = answer.status === "accepted" || (answer.status === "rejected" && answer.reason === "duplicate");
      const detail =
        answer.status === "accepted"
          ? `accepted: digest ${answer.digest}`
          : answer.status === "rejected"
            ? `rejected: ${answer.reason}: ${answer.detail}`
            : `no verdict: ${answer.detail}`;
      metrics.reports.inc({ outcome: answer.status });
      (ok ? logger.info.bind(logger) : logger.error.bind(logger))(
        { bot: bot.url, cluster: outcome.cluster, era: outcome.era },
        `report ${detail}`,
      );
      results.push({ to: bot.url, ok, detail });
    }
    return results;
  };

  const finish = async (m: EraMeasurement): Promise<EraOutcome> => {
    const report = await signReport(signer, Number(chainId), config.chain.core, reportBody(m));
    const base = join(config.dataDir, "reports", `${m.cluster}-${m.era}`);
    const files = { report: `${base}.json`, detail: `${base}.detail.json` };
    writeWhole(files.report, report);
    // The detail file, written again once the bots have answered, with their answers.
    const detail = { validator: address, cluster: m.cluster, era: m.era, nodes: m.nodes, buckets: m.buckets };
    writeWhole(files.detail, detail);
    const buckets = m.buckets.map((b) => ({ ...b, bucket: Number(b.bucket) }));
    const partial = { cluster: m.cluster, era: m.era, report, nodes: m.nodes, buckets, files };
    const submitted = await submit(partial);
    writeWhole(files.detail, { ...detail, submitted });
    metrics.era.set({ cluster: String(m.cluster) }, m.era);
    return { ...partial, submitted };
  };

  /** One era of one cluster: measured, then reported (the next era's measurement runs meanwhile). */
  const runEra = async (cluster: number, era: { era: number; start: number; end: number }) => {
    try {
      const measured = await measureEra({
        cluster,
        era: era.era,
        start: era.start,
        end: era.end,
        validator: address,
        view,
        provider,
        sessions,
        config,
        clock,
        logger,
        metrics,
        signal: stopping.signal,
      });
      if (stopping.signal.aborted) return;
      const outcome = await finish(measured);
      outcomes.push(outcome);
      options.onEra?.(outcome);
    } catch (error) {
      if (stopping.signal.aborted) return;
      logger.error({ cluster, era: era.era, what: (error as Error).message }, "era not measured");
    }
  };

  /** One cluster, era after era, until stopped: each era measured from its start. */
  const inFlight = new Set<Promise<void>>();
  const runCluster = async (cluster: number) => {
    let last: number | undefined;
    while (!stopping.signal.aborted) {
      try {
        const era = await view.era(cluster, Math.floor(clock.now() / 1000));
        if (era === undefined) throw new Error(`cluster ${cluster} is unknown to the core`);
        if (era.era !== last) {
          last = era.era;
          const info = await view.cluster(cluster);
          if (info?.validators.includes(address) === true) {
            const run = runEra(cluster, era);
            inFlight.add(run);
            void run.finally(() => inFlight.delete(run));
          } else {
            logger.warn(
              { cluster, era: era.era },
              "this key is not a validator of the cluster: nothing measured this era",
            );
          }
        }
        await clock.sleep(Math.max(200, era.end * 1000 - clock.now()), stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) return;
        logger.error({ cluster, what: (error as Error).message }, "the cluster's era not read");
        await clock.sleep(2_000, stopping.signal);
      }
    }
  };

  let ops: FastifyInstance | undefined;
  let opsOrigin: string | undefined;
  if (config.ops !== undefined) {
    ops = Fastify({ logger: false });
    ops.get("/health", async () => ({ status: "ok", validator: address, eras: outcomes.length }));
    ops.get("/ready", async (_req, reply) => {
      try {
        await provider.getBlockNumber();
        return { status: "ready" };
      } catch (error) {
        return reply
          .code(503)
          .send({ status: "unready", detail: `the RPC node does not answer: ${(error as Error).message}` });
      }
    });
    ops.get("/metrics", async (_req, reply) =>
      reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
    opsOrigin = await ops.listen({ host: config.ops.host, port: config.ops.port });
  }

  const targets = await clusters();
  if (targets.length === 0) logger.warn({ validator: address }, "no cluster names this validator: nothing to measure");
  const loops = targets.map((c) => runCluster(c));
  logger.info({ clusters: targets, validator: address }, "validator running");

  return {
    address,
    opsOrigin,
    outcomes,
    stop: async () => {
      stopping.abort();
      await Promise.allSettled(loops);
      await Promise.allSettled([...inFlight]);
      view.stop();
      chainClock?.stop();
      await ops?.close();
    },
  };
}

/** The report body of a measured era, in the bot's format (nodes and buckets in id order already). */
export function reportBody(m: EraMeasurement): ReportBody {
  return {
    cluster: m.cluster,
    era: m.era,
    nodes: m.nodes.map((n) => ({
      node: n.node,
      availabilityBps: n.availabilityBps,
      latencyMs: n.latencyMs,
      retrievable: n.retrievable,
      score: n.score,
    })),
    buckets: m.buckets.map((b) => ({ bucket: Number(b.bucket), measuredBytes: b.measuredBytes.toString() })),
  };
}

/** A file written whole (a temporary file, then a rename). */
function writeWhole(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
  renameSync(tmp, path);
}
