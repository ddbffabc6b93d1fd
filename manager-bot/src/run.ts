import { randomUUID } from "node:crypto";
import { formatEther, getAddress, parseUnits, type Provider } from "ethers";
import type { Logger } from "pino";
import { decodeRevert } from "../../lib/errors";
import { IERC20Metadata__factory } from "../../typechain-types";
import type { DDCLens, IDDC } from "../../typechain-types";
import { advanceCluster, type ClusterRun, type EraInput, type SkippedEra } from "./bot";
import type { ClusterConfig, BotConfig } from "./config";
import type { PlannedAction } from "./decide";
import { ready as hasherReady } from "./evidence";
import { adoptOpen, keep, SimulatingExecutor, type ForeignAction, type SimulatedCall, type Target } from "./executors";
import { scanReportDirectory, type ReportIntake } from "./intake";
import type { BotMetrics } from "./metrics";
import { cleanMessage } from "./redact";
import type { ActionRecord, BotStore } from "./store";
import { isTransient, type ManagedSigner } from "./tx";
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

/**
 * `ddc bot run --once`'s exit codes: 0 when every closed era due is decided or recorded as
 * skipped; 1 when the run failed (a cluster's work, the reports directory, the balance check);
 * 3 when it did not fail but an era it should decide waits for its reports (no quorum yet).
 */
export const EXIT_CODES = { ok: 0, failed: 1, undecided: 3 } as const;

/** The exit code of a `--once` run (see `EXIT_CODES`): a failure outranks an undecided era. */
export function exitCodeOf(report: Pick<RunReport, "failed" | "clusters">): number {
  if (report.failed.length > 0) return EXIT_CODES.failed;
  if (report.clusters.some((c) => c.waiting !== undefined)) return EXIT_CODES.undecided;
  return EXIT_CODES.ok;
}

/** What `--dry-run` prints: the decisions and their simulated calls, per cluster. */
export interface DryRunReport {
  clusters: {
    cluster: number;
    paused?: string;
    /** The eras the run would record as skipped, each with its reason. */
    skipped?: SkippedEra[];
    eras: (
      | { era: number; decided: true; evidence: string; planned: PlannedAction[] }
      | { era: number; decided: false; have: number; need: number; missing: string[] }
    )[];
    actions: SimulatedCall[];
  }[];
}

export type Alert =
  "low-balance" | "action-stuck" | "action-failed" | "era-undecided" | "foreign-action" | "run-failed";

/** What a run works with: built once, by the composition root (main.ts). */
export interface RunnerParts {
  config: BotConfig;
  provider: Provider;
  store: BotStore;
  logger: Logger;
  metrics: BotMetrics;
  signer: ManagedSigner;
  ddc: IDDC;
  lens: DDCLens | undefined;
  chain: ChainView;
  intake: ReportIntake;
  /** Where a cluster's actions go (the same targets every run). */
  targets: (cl: ClusterConfig) => { structural: Target; routine: Target };
  /** Where the targets write the foreign actions they find (alerted at the end of the run). */
  foreign: ForeignAction[];
  /** The chain's clock (the local demo moves it; a live chain's is the latest block's). */
  now: () => Promise<bigint>;
  /** Whether a stop was asked for (the clusters not reached yet are left for the next run). */
  stopping: () => boolean;
}

/**
 * One run of the bot over every configured cluster: the reports directory scanned, then for each
 * cluster that is not paused the open actions moved on (the keeper) and the closed eras decided
 * (catching up or skipping per policy), with a JSON log line per step and an alert line for what
 * needs a person: a low balance, a stuck action, an era that cannot be decided, a foreign action
 * under a decision's key, a failed run. The dry run goes the same path on a copy of the store,
 * with simulating executors.
 */
export class BotRunner {
  private readonly logger: Logger;
  private readonly metrics: BotMetrics;
  private readonly signer: ManagedSigner;
  private readonly ddc: IDDC;
  private readonly lens: DDCLens | undefined;
  private readonly chain: ChainView;
  private readonly intake: ReportIntake;
  private readonly foreignFound: ForeignAction[];
  private decimals: number | undefined;
  private readonly adopted = new Set<number>();
  /** The clusters whose manager on chain was found to be the one configured (checked once a process). */
  private readonly managerChecked = new Set<number>();

  constructor(private readonly parts: RunnerParts) {
    ({
      logger: this.logger,
      metrics: this.metrics,
      signer: this.signer,
      ddc: this.ddc,
      lens: this.lens,
      chain: this.chain,
      intake: this.intake,
      foreign: this.foreignFound,
    } = parts);
  }

  private get store(): BotStore {
    return this.parts.store;
  }

  private get stopping(): boolean {
    return this.parts.stopping();
  }

  private now(): Promise<bigint> {
    return this.parts.now();
  }

  private alert(report: RunReport, alert: Alert, message: string, fields: Record<string, unknown> = {}): void {
    this.metrics.alerts.inc({ alert });
    report.alerts.push({ alert, message });
    this.logger.warn({ run: report.run, alert, ...fields }, `ALERT ${alert}: ${message}`);
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

  /** The inputs of one cluster's era work (and the evidence hasher ready before any decision). */
  async eraInput(cl: ClusterConfig): Promise<EraInput> {
    await hasherReady();
    const { structural, routine } = this.parts.targets(cl);
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

  /** One run over every cluster (the service never starts two at once). */
  async run(): Promise<RunReport> {
    const runId = randomUUID();
    const log = this.logger.child({ run: runId });
    const report: RunReport = { run: runId, clusters: [], paused: [], failed: [], alerts: [] };
    const { config, store } = this.parts;
    log.info("run started");
    if (config.intake.directory !== null) {
      try {
        for (const o of await scanReportDirectory(this.intake, config.intake.directory)) {
          // Waiting for the chain, not refused: it is taken in by a later scan.
          if ("undecided" in o) log.warn({ file: o.file, why: o.undecided }, `report ${o.file} waits: ${o.undecided}`);
        }
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
    if (report.failed.length === 0) {
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
    if (!this.managerChecked.has(cl.id)) {
      await this.checkManager(cl, input.structural);
      this.managerChecked.add(cl.id);
    }
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
      log.warn({ cluster: cl.id, era: s.era, reason: s.reason }, `cluster ${cl.id} era ${s.era} skipped: ${s.reason}`);
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

  /**
   * Refuses to work on a cluster whose manager on chain is not the one the configuration names
   * (the Governor's Timelock, the Safe, or the bot's own key), saying what is needed: the
   * replacements it decided would go to a manager that cannot make them.
   */
  private async checkManager(cl: ClusterConfig, structural: Target): Promise<void> {
    const manager = getAddress((await this.ddc.getCluster(cl.id)).manager);
    const expected = getAddress(await structural.sender());
    if (manager === expected) return;
    const bot = getAddress(await this.signer.getAddress());
    const isKey = (await this.parts.provider.getCode(manager)) === "0x";
    const kind = cl.manager.kind;
    const acting =
      kind === "key" ? `the bot's key ${expected}` : `${kind === "governor" ? "the Timelock" : "the Safe"} ${expected}`;
    const base =
      `cluster ${cl.id}: its manager on chain is ${manager} (${isKey ? "a plain key" : "a contract"}), ` +
      `but manager.kind "${kind}" in the configuration acts as ${acting}`;
    let need: string;
    if (manager === bot) need = `the bot's own key manages the cluster: set manager.kind "key"`;
    else if (!isKey)
      need = `set manager.kind "governor" (a Governor's Timelock) or "safe" (with the Safe's address), whichever ${manager} is`;
    else if (kind === "key")
      need =
        `with manager.kind "key" the bot sends every action itself, so it must run with that key ` +
        `(${this.parts.config.key.kind === "env" ? this.parts.config.key.name : "key.keystore"}); or the key hands the cluster to a ` +
        `Governor's Timelock or a Safe (clusterProposeManager, then accepted) and names the bot's key ${bot} an operator ` +
        `(clusterSetOperator) for the routine work`;
    else
      need =
        `a cluster managed by a plain key is run by the bot holding that key (manager.kind "key"), ` +
        `or is handed to ${expected} first (clusterProposeManager, then accepted)`;
    throw new Error(`${base}: ${need}`);
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
        entry.skipped = run.skipped;
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
}
