import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import Fastify, { type FastifyInstance } from "fastify";
import {
  JsonRpcProvider,
  type BaseWallet,
  Wallet,
  formatEther,
  getAddress,
  isAddress,
  parseUnits,
  type Provider,
} from "ethers";
import { schedule, type ScheduledTask } from "node-cron";
import pino, { type Logger } from "pino";
import { z } from "zod";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { HttpSignatureStore } from "../../governance/safeServer";
import { DirectorySignatureStore, SafeQueue } from "../../governance/safeStore";
import { DDCGovernor__factory, DDCLens__factory, IDDC__factory, IERC20Metadata__factory } from "../../typechain-types";
import type { DDCLens, IDDC } from "../../typechain-types";
import { decodeRevert } from "../../lib/errors";
import { advanceCluster, type ClusterRun, type EraInput } from "./bot";
import type { PlannedAction } from "./decide";
import { ready as hasherReady } from "./evidence";
import { coreChainView } from "./chain";
import type { BotConfig, ClusterConfig } from "./config";
import { describeConfig } from "./config";
import {
  adoptOpen,
  GovernorExecutor,
  keep,
  OperatorExecutor,
  SafeExecutor,
  SimulatingExecutor,
  type ExecutorOptions,
  type ForeignAction,
  type SimulatedCall,
  type Target,
} from "./executors";
import { createReportServer, ReportIntake, scanReportDirectory } from "./intake";
import { BotMetrics } from "./metrics";
import { BotStore, type ActionRecord } from "./store";
import { cleanMessage } from "./redact";
import { isTransient, ManagedSigner, type TxEvent } from "./tx";
import type { ChainView } from "./validate";

/** One run over every cluster: what was done, and what went wrong. */
export interface RunReport {
  run: string;
  clusters: (ClusterRun & {
    keeper: { kind: string; era: number | null; state: string }[];
    /** Actions the keeper could not move (a revert records the action as failed). */
    keeperErrors: { action: ActionRecord; message: string; failed: boolean }[];
  })[];
  paused: { cluster: number; reason: string }[];
  failed: { cluster: number | null; error: string }[];
  alerts: { alert: Alert; message: string }[];
}

/** What `--dry-run` prints: the decisions and their simulated calls, per cluster. */
export interface DryRunReport {
  clusters: {
    cluster: number;
    paused?: string;
    skipped?: number[];
    eras: (
      | { era: number; decided: true; evidence: string; planned: PlannedAction[] }
      | { era: number; decided: false; have: number; need: number; missing: string[] }
    )[];
    actions: SimulatedCall[];
  }[];
}

export type Alert =
  "low-balance" | "action-stuck" | "action-failed" | "era-undecided" | "foreign-action" | "run-failed";

export interface ServiceParts {
  config: BotConfig;
  provider: Provider;
  /** The bot's key, held in this process (Safe signatures need it). */
  wallet: BaseWallet;
  record: DeploymentRecord;
  store: BotStore;
  logger: Logger;
  metrics?: BotMetrics;
  /** The chain's clock (the local demo moves it; a live chain's is the latest block's). */
  now?: () => Promise<bigint>;
}

/** `GET /evidence/:hash`'s parameter: a keccak256, in either case. */
const evidenceHashParam = z.object({ hash: z.string().regex(/^0x[0-9a-fA-F]{64}$/) });

/**
 * The manager bot as a service: on its schedule (no two runs overlap) it scans the reports
 * directory, then for each cluster that is not paused moves open actions on (the keeper) and
 * decides the closed eras (catching up or skipping per policy), with a JSON log line per step and
 * an alert line for what needs a person: a low balance, a stuck action, an era that cannot be
 * decided, a failed run. It serves /health, /ready and /metrics, and validators' reports.
 */
export class BotService {
  readonly metrics: BotMetrics;
  readonly signer: ManagedSigner;
  readonly ddc: IDDC;
  readonly lens: DDCLens | undefined;
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
  private decimals: number | undefined;
  private readonly adopted = new Set<number>();
  private readonly targets = new Map<number, { structural: Target; routine: Target }>();
  /** Foreign actions the executors found under the decisions' keys, alerted at the end of the run. */
  private foreignFound: ForeignAction[] = [];

  constructor(private readonly parts: ServiceParts) {
    const { config, provider, wallet, record, store } = parts;
    this.logger = parts.logger;
    this.metrics = parts.metrics ?? new BotMetrics();
    this.signer = new ManagedSigner(wallet, provider, {
      ...config.tx,
      events: (e) => this.onTx(e),
    });
    const need = (name: string) => {
      const a = record.contracts[name];
      if (a === undefined) throw new Error(`the deployment record has no ${name}`);
      return a;
    };
    this.ddc = IDDC__factory.connect(need("DDCCore"), provider);
    this.lens =
      record.contracts.DDCLens === undefined ? undefined : DDCLens__factory.connect(record.contracts.DDCLens, provider);
    this.chain = coreChainView(this.ddc, provider, record.chainId, { fromBlock: config.fromBlock });
    this.intake = new ReportIntake(this.chain, store, (e) => {
      if (e.verdict === "accepted") this.metrics.reportsAccepted.inc();
      else this.metrics.reportsRejected.inc({ reason: e.reason });
      this.logger.info({ report: e }, e.verdict === "accepted" ? "report accepted" : `report rejected: ${e.reason}`);
    });
  }

  get store(): BotStore {
    return this.parts.store;
  }

  private onTx(e: TxEvent): void {
    this.metrics.transactions.inc({ event: e.type });
    if (e.type === "rpc-error") this.metrics.rpcErrors.inc({ kind: "transient" });
    const fields = { tx: { ...e, maxFeePerGas: e.maxFeePerGas?.toString() } };
    if (e.type === "replaced" || e.type === "dropped" || e.type === "rpc-error")
      this.logger.warn(fields, `transaction ${e.type}`);
    else this.logger.debug(fields, `transaction ${e.type}`);
  }

  private alert(report: RunReport, alert: Alert, message: string, fields: Record<string, unknown> = {}): void {
    this.metrics.alerts.inc({ alert });
    report.alerts.push({ alert, message });
    this.logger.warn({ run: report.run, alert, ...fields }, `ALERT ${alert}: ${message}`);
  }

  /** Where a cluster's actions go (built once per cluster). */
  private targetsFor(cl: ClusterConfig): { structural: Target; routine: Target } {
    const known = this.targets.get(cl.id);
    if (known !== undefined) return known;
    const { record, config, provider } = this.parts;
    const options: ExecutorOptions = {
      bot: this.signer,
      replicas: config.replicas,
      fromBlock: config.fromBlock,
      onForeign: (found) => this.foreignFound.push(found),
    };
    let structural: Target;
    if (cl.manager.kind === "governor") {
      const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider);
      structural = new GovernorExecutor(governor, options);
    } else {
      const where = cl.manager.store;
      const sigStore = /^https?:\/\//.test(where) ? new HttpSignatureStore(where) : new DirectorySignatureStore(where);
      const safe = safeAddress(cl.manager.safe, record);
      structural = new SafeExecutor(
        new SafeQueue(provider, record.chainId, safe, sigStore),
        record.chainId,
        record.contracts.MultiSendCallOnly,
        options,
      );
    }
    const routine: Target = cl.routine === "operator" ? new OperatorExecutor(options) : structural;
    const t = { structural, routine };
    this.targets.set(cl.id, t);
    return t;
  }

  private async paymentDecimals(): Promise<number> {
    if (this.decimals === undefined) {
      const token = IERC20Metadata__factory.connect(await this.ddc.token(), this.parts.provider);
      this.decimals = Number(await token.decimals());
    }
    return this.decimals;
  }

  /** The configured minimum in the payment token's units (its decimals read from the chain). */
  private async settlementMinimum(cluster: number, minimum: string): Promise<bigint> {
    const decimals = await this.paymentDecimals();
    try {
      return parseUnits(minimum, decimals);
    } catch {
      throw new Error(
        `cluster ${cluster}: settlement.minimum "${minimum}" has more decimals than the payment token's ${decimals}`,
      );
    }
  }

  private now(): Promise<bigint> {
    return this.parts.now?.() ?? this.chain.now();
  }

  /** The inputs of one cluster's era work (and the evidence hasher ready before any decision). */
  async eraInput(cl: ClusterConfig): Promise<EraInput> {
    await hasherReady();
    const { structural, routine } = this.targetsFor(cl);
    return {
      ddc: this.ddc,
      chain: this.chain,
      store: this.store,
      cluster: cl.id,
      policy: cl.policy,
      routine,
      structural,
      lens: this.lens,
      evidenceBaseUrl: this.parts.config.evidence.baseUrl ?? undefined,
      settlement:
        cl.settlement === null || this.lens === undefined
          ? undefined
          : { minimum: await this.settlementMinimum(cl.id, cl.settlement.minimum) },
    };
  }

  /** One run; a run asked for while one is going waits for it and returns its report. */
  run(): Promise<RunReport> {
    if (this.running !== undefined) {
      this.metrics.runs.inc({ outcome: "skipped-overlap" });
      this.logger.info("a run is still going: this one is skipped");
      return this.running;
    }
    this.running = this.runOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runOnce(): Promise<RunReport> {
    const runId = randomUUID();
    const log = this.logger.child({ run: runId });
    const report: RunReport = { run: runId, clusters: [], paused: [], failed: [], alerts: [] };
    const { config, store } = this.parts;
    log.info("run started");
    if (config.intake.directory !== null) {
      try {
        await scanReportDirectory(this.intake, config.intake.directory);
      } catch (error) {
        report.failed.push({ cluster: null, error: `reports directory: ${cleanMessage(error)}` });
      }
    }
    const paused = store.paused();
    for (const cl of config.clusters) {
      // Stopping: the clusters not reached yet wait for the next start (nothing is left half done:
      // each cluster's work is recorded step by step).
      if (this.stopping) {
        log.info({ cluster: cl.id }, `stopping: cluster ${cl.id} is left for the next run`);
        continue;
      }
      const pause = cl.paused ? "paused in the configuration" : paused.get(cl.id)?.reason;
      if (pause !== undefined) {
        report.paused.push({ cluster: cl.id, reason: pause });
        log.info({ cluster: cl.id, reason: pause }, `cluster ${cl.id} paused: nothing done`);
        continue;
      }
      try {
        report.clusters.push(await this.runCluster(cl, log));
      } catch (error) {
        const message = cleanMessage(error);
        report.failed.push({ cluster: cl.id, error: message });
        this.metrics.rpcErrors.inc({ kind: isTransient(error) ? "transient" : "other" });
        log.error({ cluster: cl.id, error: message }, `cluster ${cl.id}: ${message}`);
      }
    }
    for (const c of report.clusters) {
      for (const r of [...c.decided.flatMap((d) => d.records), ...(c.settled ?? [])]) {
        if (r.state !== "failed") continue;
        this.alert(
          report,
          "action-failed",
          `cluster ${r.cluster} era ${r.era ?? "-"} ${r.kind}: its call reverts; recorded as failed, the era goes on`,
          { cluster: r.cluster, era: r.era, kind: r.kind },
        );
      }
      for (const k of c.keeperErrors) {
        const a = k.action;
        const what = `cluster ${a.cluster} era ${a.era ?? "-"} ${a.kind} (${a.ref ?? "no reference"})`;
        if (k.failed) {
          this.alert(report, "action-failed", `${what} cannot be carried out, recorded as failed: ${k.message}`, {
            cluster: a.cluster,
            era: a.era,
            kind: a.kind,
          });
        } else {
          report.failed.push({ cluster: c.cluster, error: `keeper: ${what}: ${k.message}` });
        }
      }
      if (c.waiting !== undefined) {
        const w = c.waiting;
        this.alert(
          report,
          "era-undecided",
          `cluster ${c.cluster} era ${w.era}: ${w.have} of the ${w.need} reports needed; missing ${w.missing.join(", ")}`,
          { cluster: c.cluster, era: w.era },
        );
      }
    }
    for (const f of this.foreignFound.splice(0)) {
      this.alert(
        report,
        "foreign-action",
        `cluster ${f.cluster} era ${f.era ?? "-"} ${f.kind}: ${f.ref} (by ${f.by.join(", ") || "nobody known"}) ` +
          `carries the decision's key but is not the decision: ${f.differences.join("; ")}. ` +
          "The bot leaves it alone and proposes its own: do not approve it",
        { cluster: f.cluster, era: f.era, kind: f.kind, ref: f.ref, by: f.by, differences: f.differences },
      );
    }
    await this.checkStuckAndBalance(report).catch((error: unknown) =>
      report.failed.push({ cluster: null, error: `balance: ${cleanMessage(error)}` }),
    );
    this.metrics.syncActions(store);
    this.lastRunAt = Date.now();
    this.lastRunOk = report.failed.length === 0;
    if (this.lastRunOk) {
      this.metrics.runs.inc({ outcome: "ok" });
      this.metrics.lastSuccess.set(Math.floor(Date.now() / 1000));
    } else {
      this.metrics.runs.inc({ outcome: "failed" });
      this.alert(report, "run-failed", report.failed.map((f) => `cluster ${f.cluster ?? "-"}: ${f.error}`).join("; "));
    }
    log.info(
      {
        decided: report.clusters.flatMap((c) => c.decided.map((d) => ({ cluster: c.cluster, era: d.era }))),
        failed: report.failed.length,
      },
      "run ended",
    );
    return report;
  }

  private async runCluster(cl: ClusterConfig, log: Logger): Promise<RunReport["clusters"][number]> {
    const { store } = this.parts;
    const input = await this.eraInput(cl);
    // Once per process: what the chain and the Safe store hold that the store does not (a lost store).
    if (!this.adopted.has(cl.id)) {
      for (const t of new Set([input.structural, input.routine])) {
        for (const a of await adoptOpen(store, t, cl.id)) {
          log.warn(
            { cluster: cl.id, era: a.era, kind: a.kind, ref: a.ref },
            "adopted a live action the store did not know",
          );
        }
      }
      this.adopted.add(cl.id);
    }
    const run = await advanceCluster({ ...input, missed: cl.missed });
    for (const d of run.decided) {
      this.metrics.erasDecided.inc({ cluster: String(cl.id) });
      log.info(
        {
          cluster: cl.id,
          era: d.era,
          evidence: d.hash,
          actions: d.records.map((r) => ({ kind: r.kind, state: r.state, ref: r.ref })),
        },
        `cluster ${cl.id} era ${d.era} decided`,
      );
    }
    for (const r of run.settled ?? []) {
      log.info({ cluster: cl.id, era: r.era, kind: r.kind, state: r.state, ref: r.ref }, `cluster ${cl.id} settled`);
    }
    for (const s of run.skipped) {
      this.metrics.erasSkipped.inc({ cluster: String(cl.id) });
      log.warn({ cluster: cl.id, era: s.era, reason: s.reason }, `cluster ${cl.id} era ${s.era} skipped`);
    }
    // The keeper after the decisions: a replacement it executes now does not change the members
    // the eras closed so far are decided on.
    const keeper = [];
    const keeperErrors: { action: ActionRecord; message: string; failed: boolean }[] = [];
    for (const t of new Set([input.structural, input.routine])) {
      const moved = await keep(store, t, () => this.now(), {
        cluster: cl.id,
        onError: (a, error) =>
          keeperErrors.push({
            action: a,
            message: cleanMessage(error),
            failed: store.action(a.cluster, a.era, a.kind)?.state === "failed",
          }),
      });
      for (const a of moved) {
        keeper.push({ kind: a.kind, era: a.era, state: a.state });
        log.info({ cluster: cl.id, era: a.era, kind: a.kind, state: a.state, ref: a.ref }, `${a.kind} ${a.state}`);
      }
    }
    this.metrics.eraWaiting.set({ cluster: String(cl.id) }, run.waiting?.era ?? -1);
    return { ...run, keeper, keeperErrors };
  }

  private async checkStuckAndBalance(report: RunReport): Promise<void> {
    const { config, store, provider } = this.parts;
    const wall = Math.floor(Date.now() / 1000);
    for (const a of store.open()) {
      const idle = wall - a.updatedAt;
      if (idle >= config.alerts.stuckAfterSeconds) {
        this.alert(
          report,
          "action-stuck",
          `cluster ${a.cluster} era ${a.era ?? "-"} ${a.kind} is ${a.state} for ${Math.floor(idle / 60)} min (${a.ref ?? "no reference"})`,
          { cluster: a.cluster, era: a.era, kind: a.kind, state: a.state, ref: a.ref },
        );
      }
    }
    const balance = await provider.getBalance(await this.signer.getAddress());
    this.metrics.balance.set(Number(balance));
    if (balance < config.alerts.minBalance) {
      this.alert(
        report,
        "low-balance",
        `the bot's key holds ${formatEther(balance)} ETH, below ${formatEther(config.alerts.minBalance)}: fund ${await this.signer.getAddress()}`,
      );
    }
  }

  /**
   * What a run would do now, sending nothing and writing nothing: the same path as a run, on an
   * in-memory copy of the store, with every call simulated (`eth_call`) from the address that
   * would send it (the bot's key, the Timelock, or the Safe) instead of being carried out.
   */
  async dryRun(): Promise<DryRunReport> {
    const out: DryRunReport = { clusters: [] };
    const copy = this.store.copy();
    const paused = copy.paused();
    const explain = (error: unknown) =>
      decodeRevert((error as { data?: string }).data)?.text ?? cleanMessage(error).split("\n")[0];
    try {
      for (const cl of this.parts.config.clusters) {
        const entry: DryRunReport["clusters"][number] = { cluster: cl.id, eras: [], actions: [] };
        out.clusters.push(entry);
        const pause = cl.paused ? "paused in the configuration" : paused.get(cl.id)?.reason;
        if (pause !== undefined) {
          entry.paused = pause;
          continue;
        }
        const real = await this.eraInput(cl);
        const simulate = (t: Target) => new SimulatingExecutor(t, this.parts.provider, explain, entry.actions);
        const routine = simulate(real.routine);
        const structural = real.structural === real.routine ? routine : simulate(real.structural);
        const run = await advanceCluster({ ...real, store: copy, routine, structural, missed: cl.missed });
        entry.skipped = run.skipped.map((x) => x.era);
        for (const d of run.decided) {
          entry.eras.push({ era: d.era, decided: true, evidence: d.hash, planned: d.planned });
        }
        if (run.waiting !== undefined) {
          const w = run.waiting;
          entry.eras.push({ era: w.era, decided: false, have: w.have, need: w.need, missing: w.missing });
        }
      }
    } finally {
      copy.close();
    }
    return out;
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

/** A Safe named by address, or by its name in the deployment record. */
function safeAddress(safe: string, record: DeploymentRecord): string {
  if (isAddress(safe)) return getAddress(safe);
  const known = record.contracts[safe];
  if (known === undefined) throw new Error(`the deployment record has no contract named ${safe} (a Safe)`);
  return getAddress(known);
}

/** The bot's key: from the encrypted keystore (password in the environment) or the environment. */
export async function loadBotKey(config: BotConfig, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  if (config.key.kind === "env") {
    try {
      return new Wallet(env[config.key.name]!);
    } catch {
      throw new Error(`${config.key.name} is not a private key (32 bytes of hex)`);
    }
  }
  let json: string;
  try {
    json = readFileSync(config.key.file, "utf8");
  } catch {
    throw new Error(`no keystore file at ${config.key.file}`);
  }
  try {
    return (await Wallet.fromEncryptedJson(json, env[config.key.passwordEnv]!)) as Wallet;
  } catch (error) {
    const wrong = /incorrect password/i.test((error as Error).message);
    throw new Error(
      `cannot open the keystore ${config.key.file}: ${wrong ? "wrong password" : (error as Error).message}`,
    );
  }
}

/** A JSON logger with the service's name; secrets are redacted wherever they would appear. */
export function botLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "ddc-bot" },
      redact: {
        paths: ["privateKey", "*.privateKey", "botKey", "*.botKey", "password", "*.password"],
        censor: "[secret]",
      },
    },
    destination,
  );
}

/** Everything the service needs, from a loaded configuration. */
export async function serviceFromConfig(
  config: BotConfig,
  options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {},
): Promise<BotService> {
  const logger = options.logger ?? botLogger(config.logLevel);
  const record = readRecord(config.deployment);
  if (record === undefined) throw new Error(`no deployment record at ${config.deployment}`);
  const provider = new JsonRpcProvider(config.rpc, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
  const wallet = await loadBotKey(config, options.env);
  if (config.intake.directory !== null) mkdirSync(config.intake.directory, { recursive: true });
  const store = new BotStore(config.store);
  return new BotService({ config, provider, wallet, record, store, logger });
}
