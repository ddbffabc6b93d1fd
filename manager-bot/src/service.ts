import Fastify, { type FastifyInstance } from "fastify";
import { schedule, type ScheduledTask } from "node-cron";
import type { Logger } from "pino";
import { z } from "zod";
import { describeConfig, type BotConfig } from "./config";
import { createReportServer, type ReportIntake } from "./intake";
import type { BotMetrics } from "./metrics";
import { cleanMessage } from "./redact";
import type { BotRunner, DryRunReport, RunReport } from "./run";
import type { BotStore } from "./store";
import type { ManagedSigner } from "./tx";
import type { ChainView } from "./validate";

export type { Alert, DryRunReport, RunReport } from "./run";

/** `GET /evidence/:hash`'s parameter: a keccak256, in either case. */
const evidenceHashParam = z.object({ hash: z.string().regex(/^0x[0-9a-fA-F]{64}$/) });

/** What the service schedules and serves (built by the composition root, main.ts). */
export interface ServiceComponents {
  config: BotConfig;
  store: BotStore;
  logger: Logger;
  metrics: BotMetrics;
  signer: ManagedSigner;
  intake: ReportIntake;
  chain: ChainView;
  runner: BotRunner;
}

/**
 * The manager bot as a service: the runner's runs on a schedule (no two at once), and the
 * servers: /health, /ready, /metrics and /evidence/:hash on the operations port, validators'
 * reports on the intake port. Starting reconciles the signer's nonces; stopping lets the current
 * run finish its cluster.
 */
export class BotService {
  readonly metrics: BotMetrics;
  readonly signer: ManagedSigner;
  readonly chain: ChainView;
  readonly intake: ReportIntake;
  private readonly logger: Logger;
  private task: ScheduledTask | undefined;
  private servers: FastifyInstance[] = [];
  private running: Promise<RunReport> | undefined;
  private started = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private lastRunOk: boolean | undefined;
  private lastRunAt: number | undefined;

  constructor(private readonly parts: ServiceComponents) {
    ({
      metrics: this.metrics,
      signer: this.signer,
      chain: this.chain,
      intake: this.intake,
      logger: this.logger,
    } = parts);
  }

  get store(): BotStore {
    return this.parts.store;
  }

  /** Whether a stop was asked for. */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** One run; a run asked for while one is going waits for it and returns its report. */
  run(): Promise<RunReport> {
    if (this.running !== undefined) {
      this.metrics.runs.inc({ outcome: "skipped-overlap" });
      this.logger.info("a run is still going: this one is skipped");
      return this.running;
    }
    this.running = this.parts.runner
      .run()
      .then((report) => {
        this.lastRunAt = Date.now();
        this.lastRunOk = report.failed.length === 0;
        return report;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** What a run would do now, sending nothing and writing nothing (see BotRunner.dryRun). */
  dryRun(): Promise<DryRunReport> {
    return this.parts.runner.dryRun();
  }

  /**
   * The operations endpoints: /health (alive), /ready (can work), /metrics (Prometheus), and
   * /evidence/:hash (each decision's evidence document, the exact bytes its hash is of).
   */
  private async opsServer(): Promise<FastifyInstance> {
    const app = Fastify({ logger: false });
    app.get("/health", async () => ({
      status: "ok",
      lastRunAt: this.lastRunAt ?? null,
      lastRunOk: this.lastRunOk ?? null,
    }));
    app.get("/ready", async (_req, reply) => {
      const ready = this.started && !this.stopping && this.lastRunOk !== false;
      return reply.status(ready ? 200 : 503).send({
        ready,
        ...(ready
          ? {}
          : {
              why: !this.started
                ? "starting"
                : this.stopping
                  ? "stopping"
                  : this.lastRunAt === undefined
                    ? "the chain was unreachable at start"
                    : "the last run failed",
            }),
      });
    });
    app.get("/metrics", async (_req, reply) =>
      reply.header("content-type", this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
    );
    app.get("/evidence/:hash", async (req, reply) => {
      const parsed = evidenceHashParam.safeParse(req.params);
      if (!parsed.success) {
        return reply.status(400).send({ error: "the evidence hash is 0x and 64 hex digits (a keccak256)" });
      }
      const hash = parsed.data.hash.toLowerCase();
      const json = this.store.evidence(hash);
      if (json === undefined) return reply.status(404).send({ error: `no evidence document ${hash} here` });
      // Stored as it was hashed, never re-serialised; a document never changes under its hash.
      return reply
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "public, max-age=31536000, immutable")
        .send(json);
    });
    return app;
  }

  /**
   * Starts the service: the nonce manager reconciled with the chain, the operations and report
   * servers listening, the schedule armed. Returns the addresses it listens on.
   */
  async start(options: { schedule?: boolean } = {}): Promise<{ ops: string; intake: string | null }> {
    const { config } = this.parts;
    this.logger.info({ config: describeConfig(config) }, "starting");
    this.parts.store.claim();
    try {
      const nonce = await this.signer.reconcile();
      this.logger.info({ bot: await this.signer.getAddress(), nonce }, "nonce reconciled with the chain");
    } catch (error) {
      // The service starts all the same (and says it is not ready): the signer reconciles before
      // its first transaction, and each run retries the chain.
      this.lastRunOk = false;
      this.logger.error(`the chain is unreachable at start: ${cleanMessage(error)}`);
    }
    const ops = await this.opsServer();
    this.servers.push(ops);
    const opsAt = await ops.listen({ host: config.http.host, port: config.http.port });
    let intakeAt: string | null = null;
    if (config.intake.port !== null) {
      const intake = await createReportServer(this.intake, { bodyLimit: config.intake.bodyLimitBytes });
      this.servers.push(intake);
      intakeAt = await intake.listen({ host: config.intake.host, port: config.intake.port });
    }
    if (options.schedule !== false) {
      this.task = schedule(
        config.schedule,
        async () => {
          await this.run();
        },
        { noOverlap: true, name: "ddc-bot" },
      );
    }
    this.started = true;
    this.logger.info({ ops: opsAt, intake: intakeAt, schedule: config.schedule }, "started");
    return { ops: opsAt, intake: intakeAt };
  }

  /** Stops gracefully: no new run, the current one finished, the servers closed, the store closed. */
  /** Asks the current run to end after the cluster it is working on (the stop of `--once`). */
  requestStop(): void {
    this.stopping = true;
  }

  stop(): Promise<void> {
    return (this.stopped ??= this.shutDown());
  }

  private async shutDown(): Promise<void> {
    this.stopping = true;
    this.logger.info("stopping");
    await this.task?.stop();
    await this.task?.destroy();
    await this.running?.catch(() => undefined);
    for (const s of this.servers) await s.close();
    this.parts.store.release();
    this.parts.store.close();
    this.logger.info("stopped");
  }
}
