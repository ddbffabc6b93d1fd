import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "ethers";
import { freePort, startNode, type LocalNode } from "../../lib/localChain";
import type { ActionKind } from "../../governance/actions";
import { stateName, vote } from "../../governance/dao";
import { DirectorySignatureStore, SafeQueue, signSafeTx } from "../../governance/safeStore";
import type { BotConfig, ClusterConfig } from "../../manager-bot/src/config";
import { botLogger, composeService } from "../../manager-bot/src/main";
import type { RunReport } from "../../manager-bot/src/run";
import type { BotService } from "../../manager-bot/src/service";
import { BotStore } from "../../manager-bot/src/store";
import { DEFAULT_TX_OPTIONS } from "../../manager-bot/src/tx";
import {
  StaticDirectory,
  StorageClientError,
  createStorageClient,
  replicasFor,
  sortRing,
  type DdcStorageClient,
} from "../../storage-node/client/node";
import type { EraOutcome } from "../../validator/src/types";
import { killAll, registerNodes, startNodeProcess, stopNodeProcess, type StorageNodeProcess } from "./nodes";
import { conservation, type Conservation } from "./conservation";
import { startValidators, type RunningValidator } from "./validators";
import {
  ACCOUNT,
  CHAIN_SPEED,
  GOVERNANCE,
  LAYOUT,
  NODES_PER_PROVIDER,
  REPLICATION,
  USD,
  appBuckets,
  createClusters,
  daoAccepts,
  delegateVotes,
  deploy,
  ring,
  safeAccepts,
  sleep,
  trustManagers,
  type World,
} from "./world";

/**
 * `npm start`: the whole DDC network on loopback. An anvil chain mining every second (its clock
 * is the wall clock), the system and two clusters deployed on it, eight storage nodes as separate
 * processes, three validators measuring them and reporting to the manager bot's intake, the bot
 * deciding each closed era, voters and a Safe owner acting on its proposals, and an app writing
 * and reading objects through the client library. Nothing is scripted but the two failures
 * injected midway: one member of the DAO cluster is stopped, one of the Safe cluster restarted
 * with the fault switch that makes it lose 30 % of its objects.
 */

/** The bot's replacement policy: a node failing 2 eras running is replaced, at most one a cluster an era. */
export const POLICY = { failingEras: 2, maxPerEra: 1 };

/** The fault the Safe cluster's failing member is restarted with (storage-node/src/faults.ts). */
export const DROP_FAULT = '{"dropFraction":0.3}';

const LEAF = 64 * 1024;

export interface NetworkOptions {
  /** Objects the app writes per bucket (default 40). */
  objects?: number;
  /** Eras decided in both clusters before the failures are injected (default 2). */
  healthyEras?: number;
  /** Fewer probes and challenges per era (the test's run). */
  light?: boolean;
  /** Keeps the run's temporary directory (node data, validators' files) instead of removing it. */
  keep?: boolean;
}

export interface EraDecision {
  cluster: number;
  era: number;
  evidence: string;
  scores: { node: number; score: number }[];
  ineligible: number[];
  actions: { kind: string; state: string; ref: string | null }[];
  /** What the era's distribution paid (its `RevenuesDistributed` event). */
  distributed?: { amount: bigint; toNodes: bigint; toReserve: bigint; block: number };
}

export interface Replacement {
  cluster: number;
  node: number;
  replacements: number[];
  via: "governor" | "safe";
  ref: string;
  decidedInEra: number;
  state: string;
  /** The cluster's era in which the ring changed (null: it did not). */
  executedInEra: number | null;
  votes: string[];
  signatures: string[];
}

export interface NetworkSummary {
  chainId: number;
  rpcUrl: string;
  core: string;
  contracts: Record<string, string>;
  bot: string;
  opsSafe: string;
  eraSeconds: number;
  clusters: { id: number; manager: "governor" | "safe"; spare: number; failing: number; bucket: number }[];
  nodes: { id: number; provider: number; url: string }[];
  /** The failures injected, with the era each cluster was in. */
  injected: { cluster: number; node: number; what: string; era: number }[];
  validatorEras: number;
  decisions: EraDecision[];
  replacements: Replacement[];
  rings: { cluster: number; before: number[]; after: number[] }[];
  revenue: { provider: string; account: number; nodes: number[]; claimable: bigint }[];
  owners: { cluster: number; balance: bigint; coveredUntil: bigint; daysLeft: number }[];
  conservation: Conservation;
  objects: { written: number; intact: number };
  problems: string[];
  seconds: number;
}

const short = (hex: string) => `${hex.slice(0, 6)}…${hex.slice(-4)}`;
const list = (xs: (number | bigint)[]) => (xs.length === 0 ? "none" : xs.join(", "));
const pct = (bps: number) => `${(bps / 100).toFixed(1)}%`;

/** Token units as tUSD with `digits` decimals (rounded down). */
export function usd(amount: bigint, digits = 2): string {
  const sign = amount < 0n ? "-" : "";
  const a = amount < 0n ? -amount : amount;
  const frac = ((a % USD) * 10n ** BigInt(digits)) / USD;
  return `${sign}${(a / USD).toLocaleString("en-US")}${digits === 0 ? "" : `.${frac.toString().padStart(digits, "0")}`}`;
}

/** Polls `check` every `everyMs` until it holds; past `seconds`, fails naming `what` did not happen. */
async function until(what: string, seconds: number, check: () => Promise<boolean>, everyMs = 1000): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${seconds} s`);
    await sleep(everyMs);
  }
}

/** Everything the run started, stopped in reverse order (idempotent; also on error and Ctrl-C). */
export class Teardown {
  private readonly steps: { what: string; stop: () => Promise<void> }[] = [];
  private done: Promise<void> | undefined;
  nodes: StorageNodeProcess[] = [];
  chain: LocalNode | undefined;

  add(what: string, stop: () => Promise<void>): void {
    this.steps.push({ what, stop });
  }

  run(): Promise<void> {
    return (this.done ??= (async () => {
      for (const s of [...this.steps].reverse()) {
        await Promise.race([s.stop().catch(() => undefined), sleep(10_000)]);
      }
    })());
  }

  /** The last resort (process exit): child processes killed at once. */
  killNow(): void {
    killAll(this.nodes);
    if (this.chain?.pid !== undefined) {
      try {
        process.kill(this.chain.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

function botConfig(w: World, intakePort: number, signatures: string): BotConfig {
  const common: Omit<ClusterConfig, "id" | "manager"> = {
    routine: "operator",
    policy: POLICY,
    missed: { mode: "catch-up", waitEras: 3 },
    settlement: { minimum: "1" },
    paused: false,
  };
  return {
    rpc: w.rpcUrl,
    deployment: "(in process)",
    key: { kind: "env", name: "DDC_BOT_KEY" }, // unused: the wallet is handed over
    store: ":memory:",
    schedule: "* * * * *", // unused: the story runs the bot every two seconds itself
    replicas: [],
    http: { host: "127.0.0.1", port: 0 },
    intake: { host: "127.0.0.1", port: intakePort, directory: null },
    evidence: { baseUrl: null },
    fromBlock: w.record.block,
    clusters: [
      { id: w.dao, manager: { kind: "governor" }, ...common },
      { id: w.safe, manager: { kind: "safe", safe: w.opsSafe, store: signatures }, ...common },
    ],
    tx: { ...DEFAULT_TX_OPTIONS, receiptTimeoutMs: 30_000, pollMs: 200 },
    alerts: { minBalance: parseEther("0.1"), stuckAfterSeconds: 86_400 },
    logLevel: "silent",
  };
}

type Evidence = {
  aggregation: { scores: { node: number; score: number }[]; ineligible: number[] };
  actions: { kind: string; node?: number; replacements?: number[] }[];
};

/** The app's objects: key → content, per bucket. */
type Objects = Map<number, Map<string, Buffer>>;

class Network {
  readonly problems: string[] = [];
  readonly decisions: EraDecision[] = [];
  readonly replacements: Replacement[] = [];
  readonly injected: NetworkSummary["injected"] = [];
  validatorEras = 0;
  private readonly claimable = new Map<number, bigint>();
  private readonly alerts = new Set<string>();
  private readonly queue: SafeQueue;

  constructor(
    readonly w: World,
    readonly nodes: StorageNodeProcess[],
    readonly service: BotService,
    readonly store: BotStore,
    readonly buckets: { dao: number; safe: number },
    signatures: string,
    private readonly log: (line: string) => void,
  ) {
    this.queue = new SafeQueue(w.provider, w.chainId, w.opsSafe, new DirectorySignatureStore(signatures));
  }

  get clusters(): number[] {
    return [this.w.dao, this.w.safe];
  }

  kind(cluster: number): string {
    return cluster === this.w.dao ? "DAO" : "Safe";
  }

  node(id: number): StorageNodeProcess {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no storage node ${id}`);
    return n;
  }

  /** One validator's era of one cluster: what it measured of each node, and where the report went. */
  onEra(v: number, o: EraOutcome): void {
    this.validatorEras++;
    const threshold = 9000;
    const nodes = o.nodes
      .map((n) => `${n.node} ${pct(n.availabilityBps)} ${n.latencyMs}ms ${n.retrievable ? "✓" : "✗"} ${n.score}`)
      .join(" · ");
    const sent = o.submitted.map((s) => (s.ok ? "accepted" : `refused (${s.detail})`)).join(", ");
    this.log(`validator ${v + 1} · cluster ${o.cluster} era ${o.era}: node ${nodes}; report ${sent || "not sent"}`);
    for (const n of o.nodes.filter((x) => x.score < threshold)) {
      this.log(`    node ${n.node}: ${n.reasons.slice(0, 3).join("; ") || "below the threshold"}`);
    }
    for (const s of o.submitted.filter((x) => !x.ok)) {
      this.problems.push(`validator ${v + 1}'s report of cluster ${o.cluster} era ${o.era}: ${s.detail}`);
    }
  }

  /** One run of the bot (what `ddc bot run` does on its schedule), told as it happened. */
  async runBot(): Promise<void> {
    const before = new Map<number, number[]>();
    for (const c of this.clusters) before.set(c, await ring(this.w, c));
    const run = await this.service.run();
    for (const c of run.clusters) {
      for (const d of c.decided) await this.decided(c.cluster, d);
      for (const s of c.skipped) this.log(`cluster ${c.cluster} era ${s.era} skipped: ${s.reason}`);
    }
    for (const c of run.clusters) {
      for (const k of c.keeper) {
        const ref = this.store.action(c.cluster, k.era, k.kind as ActionKind)?.ref;
        const r = this.replacements.find((x) => x.cluster === c.cluster && x.ref === ref);
        if (r !== undefined) r.state = k.state;
        const what = r === undefined ? k.kind : `replacement of node ${r.node} by node ${list(r.replacements)}`;
        this.log(`  the bot's keeper: cluster ${c.cluster}: ${what} ${k.state}`);
      }
    }
    for (const c of this.clusters) {
      const after = await ring(this.w, c);
      const was = before.get(c)!;
      if (after.join() === was.join()) continue;
      const gone = was.filter((n) => !after.includes(n));
      const joined = after.filter((n) => !was.includes(n));
      const era = Number((await this.w.system.ddc.clusterEra(c)).era);
      for (const r of this.replacements) {
        if (r.cluster === c && gone.includes(r.node) && r.executedInEra === null) r.executedInEra = era;
      }
      this.log(
        `cluster ${c}'s ring in era ${era}: node ${list(gone)} out, node ${list(joined)} in → nodes ${after.join(", ")}`,
      );
    }
    this.runProblems(run);
  }

  private runProblems(run: RunReport): void {
    for (const f of run.failed) {
      this.problems.push(`run failed: cluster ${f.cluster ?? "-"}: ${f.error}`);
      this.log(`  ! cluster ${f.cluster ?? "-"}: ${f.error}`);
    }
    for (const a of run.alerts) {
      // An era waits for its reports between its end and their arrival (and the eras before the
      // validators started never get any): the stages' deadlines catch reports that never come.
      if (a.alert === "era-undecided" || this.alerts.has(a.message)) continue;
      this.alerts.add(a.message);
      this.problems.push(`alert ${a.alert}: ${a.message}`);
      this.log(`  ! alert ${a.alert}: ${a.message}`);
    }
  }

  /** An era the bot decided: its scores, exclusions and payments, from its evidence and the chain. */
  private async decided(cluster: number, d: RunReport["clusters"][number]["decided"][number]): Promise<void> {
    const { ddc } = this.w.system;
    const doc = JSON.parse(this.store.era(cluster, d.era)!.evidence!) as Evidence;
    const line: EraDecision = {
      cluster,
      era: d.era,
      evidence: d.hash,
      scores: doc.aggregation.scores,
      ineligible: doc.aggregation.ineligible,
      actions: d.records.map((r) => ({ kind: r.kind, state: r.state, ref: r.ref })),
    };
    for (const r of d.records) {
      if (r.executor !== "operator" || r.state !== "executed" || r.ref === null) continue;
      const receipt = await this.w.provider.getTransactionReceipt(r.ref);
      for (const entry of receipt?.logs ?? []) {
        const event = ddc.interface.parseLog(entry);
        if (event?.name !== "RevenuesDistributed") continue;
        line.distributed = {
          amount: event.args.amount as bigint,
          toNodes: event.args.toNodes as bigint,
          toReserve: event.args.toReserve as bigint,
          block: receipt!.blockNumber,
        };
      }
    }
    this.decisions.push(line);
    const scores = line.scores.map((s) => `node ${s.node} ${s.score.toLocaleString("en-US")}`).join(" · ");
    const paid =
      line.distributed === undefined
        ? "nothing distributed"
        : `${usd(line.distributed.amount, 6)} tUSD distributed, ${usd(line.distributed.toNodes, 6)} to nodes, ` +
          `${usd(line.distributed.toReserve, 6)} to the reserve`;
    this.log(
      `bot: cluster ${cluster} (${this.kind(cluster)}) era ${d.era} decided (evidence ${short(d.hash)}): median scores ` +
        `${scores}; excluded from revenue: ${list(line.ineligible)}; ${paid}`,
    );
    const done = d.records.filter((r) => r.kind !== "replace-node").map((r) => `${r.kind} ${r.state}`);
    if (done.length > 0) this.log(`  ${done.join(", ")}`);
    const replace = d.records.find((r) => r.kind === "replace-node");
    const planned = doc.actions.find((a) => a.kind === "replace-node");
    if (replace === undefined || planned === undefined || replace.ref === null) return;
    const r: Replacement = {
      cluster,
      node: planned.node!,
      replacements: planned.replacements!,
      via: replace.executor === "governor" ? "governor" : "safe",
      ref: replace.ref,
      decidedInEra: d.era,
      state: replace.state,
      executedInEra: null,
      votes: [],
      signatures: replace.executor === "safe" ? [this.w.bot.address] : [],
    };
    this.replacements.push(r);
    const failed = `node ${r.node} failed ${POLICY.failingEras} eras running`;
    this.log(
      r.via === "governor"
        ? `  → ${failed}: the bot proposes to the Governor to replace it by node ${list(r.replacements)} (proposal ${short(r.ref)})`
        : `  → ${failed}: the bot puts a Safe transaction replacing it by node ${list(r.replacements)} in the signature ` +
            `store, signed by itself as one owner (${short(r.ref)}: 1 of ${await this.queue.threshold()})`,
    );
    await this.revenueLine();
  }

  /** Each provider's revenue to claim, and what it gained since the last line. */
  async revenueLine(): Promise<void> {
    const parts: string[] = [];
    for (const [p] of this.w.providers.entries()) {
      let total = 0n;
      for (const n of this.nodes.filter((x) => x.provider === p)) total += await this.w.system.ddc.nodeRevenue(n.id);
      const gained = total - (this.claimable.get(p) ?? 0n);
      this.claimable.set(p, total);
      parts.push(`provider ${p + 1} ${usd(total, 6)} (+${usd(gained, 6)})`);
    }
    this.log(`  revenue to claim, tUSD: ${parts.join(" · ")}`);
  }

  /** The voters vote for the bot's proposals open for voting. */
  async votes(): Promise<void> {
    const { governor } = this.w.system;
    for (const r of this.replacements.filter((x) => x.via === "governor" && x.executedInEra === null)) {
      const id = BigInt(r.ref);
      if (stateName(await governor.state(id)) !== "Active") continue;
      const cast: string[] = [];
      for (const [i, voter] of this.w.voters.entries()) {
        if (await governor.hasVoted(id, voter.address)) continue;
        const reason = `node ${r.node} failed its QoS ${POLICY.failingEras} eras running; the evidence checks out`;
        await vote(governor.connect(voter), id, "for", reason);
        r.votes.push(voter.address);
        cast.push(`account ${ACCOUNT.voters[i]}`);
      }
      if (cast.length === 0) continue;
      const tally = await governor.proposalVotes(id);
      const left = Number((await governor.proposalDeadline(id)) - BigInt(Math.floor(Date.now() / 1000)));
      this.log(
        `voters ${cast.join(", ")} vote for proposal ${short(r.ref)}: ${(tally.forVotes / 10n ** 18n).toLocaleString("en-US")} ` +
          `DDCG for; the vote closes in about ${Math.max(left, 0)} s, then the bot's keeper queues and executes`,
      );
    }
  }

  /** The Safe's second owner signs the bot's transactions waiting in the signature store. */
  async signatures(): Promise<void> {
    const owner = this.w.safeOwner;
    for (const r of this.replacements.filter((x) => x.via === "safe" && x.executedInEra === null)) {
      const entry = await this.queue.entry(r.ref);
      if (entry.ready || entry.status === "stale" || entry.status === "executed") continue;
      await this.queue.addSignature(
        r.ref,
        owner.address,
        await signSafeTx(owner, this.w.chainId, this.w.opsSafe, entry.data),
      );
      r.signatures.push(owner.address);
      const after = await this.queue.entry(r.ref);
      const title = (entry.description ?? "").split("\n")[0].replace(/^# /, "");
      this.log(
        `Safe owner account ${ACCOUNT.safeOwner} reads "${title}" in the signature store and signs: ` +
          `${after.confirmations.length} of ${after.threshold} signatures, ${after.status}`,
      );
    }
  }

  decidedEras(cluster: number): number {
    return this.decisions.filter((d) => d.cluster === cluster).length;
  }

  /** The failures: node stopped in the DAO cluster, node losing 30 % of its objects in the Safe's. */
  async inject(): Promise<void> {
    const { ddc } = this.w.system;
    const stopped = this.node(LAYOUT.dao.failing);
    await stopNodeProcess(stopped);
    const daoEra = Number((await ddc.clusterEra(this.w.dao)).era);
    this.injected.push({ cluster: this.w.dao, node: stopped.id, what: "stopped (SIGTERM)", era: daoEra });
    this.log("");
    this.log(`>>> INJECTED: node ${stopped.id} of the DAO cluster ${this.w.dao} is stopped (SIGTERM) in era ${daoEra}`);
    const dropping = this.node(LAYOUT.safe.failing);
    await stopNodeProcess(dropping);
    await startNodeProcess(dropping, { DDC_NODE_FAULTS: DROP_FAULT });
    const safeEra = Number((await ddc.clusterEra(this.w.safe)).era);
    this.injected.push({ cluster: this.w.safe, node: dropping.id, what: `restarted with ${DROP_FAULT}`, era: safeEra });
    this.log(
      `>>> INJECTED: node ${dropping.id} of the Safe cluster ${this.w.safe} is restarted with DDC_NODE_FAULTS='${DROP_FAULT}' ` +
        `in era ${safeEra}: it still lists its objects but answers 404 for 30 % of them`,
    );
    this.log("");
  }

  replaced(cluster: number): boolean {
    return this.replacements.some((r) => r.cluster === cluster && r.executedInEra !== null);
  }

  /** How many of the objects the spare should hold (under the current ring) it serves intact. */
  async spareHolds(
    cluster: number,
    spare: number,
    bucket: number,
    objects: Map<string, Buffer>,
  ): Promise<[number, number]> {
    const { ddc } = this.w.system;
    const [tokens, ids] = await ddc.clusterRing(cluster);
    const r = sortRing(tokens, ids.map(Number));
    const members = (await ddc.clusterNodes(cluster)).length;
    const node = this.node(spare);
    const client = createStorageClient({
      directory: new StaticDirectory({
        cluster,
        replicationFactor: 1,
        distinctNodes: 1,
        ring: { tokens: [0n], nodes: [spare] },
        nodes: new Map([[spare, { id: spare, url: node.url, signingKey: node.key.address }]]),
      }),
      signer: this.w.app,
      chainId: this.w.chainId,
      core: this.w.core,
      timeoutMs: 5000,
    });
    let want = 0;
    let have = 0;
    for (const [key, body] of objects) {
      if (!replicasFor(r, REPLICATION, members, key).includes(spare)) continue;
      want++;
      const got = await client.get(bucket, key).catch(() => undefined);
      if (got !== undefined && Buffer.from(got).equals(body)) have++;
    }
    return [have, want];
  }

  /** The nodes of each provider. */
  providerNodes(p: number): number[] {
    return this.nodes.filter((n) => n.provider === p).map((n) => n.id);
  }
}

/** The app's objects: small ones and a few larger than one 64 KiB leaf, per bucket. */
function makeObjects(buckets: number[], count: number): Objects {
  const out: Objects = new Map();
  for (const b of buckets) {
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) {
      const size = i % 10 === 9 ? LEAF + 1 + i * 997 : 200 + ((i * 7919) % (16 * 1024));
      objects.set(`app/${b}/object-${String(i).padStart(3, "0")}`, randomBytes(size));
    }
    out.set(b, objects);
  }
  return out;
}

async function writeObjects(client: DdcStorageClient, objects: Objects): Promise<void> {
  for (const [bucket, items] of objects) {
    for (const [key, body] of items) {
      try {
        await client.put(bucket, key, body);
      } catch (error) {
        const code = error instanceof StorageClientError ? ` (${error.code})` : "";
        throw new Error(`the app could not write ${key} to bucket ${bucket}${code}: ${(error as Error).message}`);
      }
    }
  }
}

/** Reads every object back through the client; returns how many came back intact, and the others. */
async function readBack(client: DdcStorageClient, objects: Objects): Promise<{ intact: number; bad: string[] }> {
  let intact = 0;
  const bad: string[] = [];
  for (const [bucket, items] of objects) {
    for (const [key, body] of items) {
      const got = await client.get(bucket, key).catch((e: Error) => e);
      if (got instanceof Error) bad.push(`${key}: ${got.message}`);
      else if (!Buffer.from(got).equals(body)) bad.push(`${key}: different content`);
      else intact++;
    }
  }
  return { intact, bad };
}

/**
 * Runs the network (see the module's comment) and returns what happened, every figure read from
 * the chain or the bot's store; `log` receives each line to print, `teardown` everything started,
 * so that the caller stops it on Ctrl-C as well.
 */
export async function runNetwork(
  log: (line: string) => void,
  teardown: Teardown,
  options: NetworkOptions = {},
): Promise<NetworkSummary> {
  const started = Date.now();
  const count = options.objects ?? 40;
  const healthyEras = options.healthyEras ?? 2;
  const base = mkdtempSync(join(tmpdir(), "ddc-network-"));
  if (options.keep !== true)
    teardown.add("the temporary directory", async () => rmSync(base, { recursive: true, force: true }));

  log(
    "DDC on loopback: an anvil chain, eight storage nodes, three validators, the manager bot, voters, a Safe owner and an app.",
  );
  log("Nothing is scripted except the two failures injected midway: every score, exclusion, payment and replacement");
  log("below comes from the validators' measurements of the running nodes and from the bot's decisions on them.");
  log("");

  const chain = await startNode("anvil", await freePort(), {
    blockTime: 1,
    mixedMining: true,
    timestampInterval: CHAIN_SPEED,
  });
  teardown.chain = chain;
  teardown.add("the chain", () => chain.stop());
  log(
    `chain: anvil at ${chain.url} (pid ${chain.pid}), a block every second, each ${CHAIN_SPEED} s of the chain's time ` +
      `after the last: the chain's time runs ${CHAIN_SPEED} times the wall clock`,
  );

  const w = await deploy(chain.url, log);
  log(
    `  core ${w.core}, Governor ${w.system.contracts.DDCGovernor}, Timelock ${w.system.contracts.TimelockController}`,
  );
  log(
    `  governance: voting delay ${GOVERNANCE.votingDelay} s, voting period ${GOVERNANCE.votingPeriod} s, Timelock delay ` +
      `${GOVERNANCE.timelockDelay} s; eras of ${w.eraSeconds} s (the core's shortest), ` +
      `${w.eraSeconds / CHAIN_SPEED} s of the wall clock each`,
  );
  await delegateVotes(w);
  await trustManagers(w);
  const nodes = await registerNodes(w, base, NODES_PER_PROVIDER);
  teardown.nodes = nodes;
  teardown.add("the storage nodes", async () => {
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
  });
  for (const p of [0, 1]) {
    const ids = nodes.filter((n) => n.provider === p);
    log(
      `provider ${p + 1} (account ${ACCOUNT.providers[p]}) registers nodes ${ids.map((n) => n.id).join(", ")} ` +
        `(${ids.map((n) => n.url.replace("http://127.0.0.1", "")).join(" ")}); it trusts the ${p === 0 ? "Timelock" : "Safe"}`,
    );
  }
  await createClusters(w);
  const buckets = await appBuckets(w);
  log(
    `cluster ${w.dao} (DAO): nodes ${LAYOUT.dao.members.join(", ")}, spare node ${LAYOUT.dao.spare}; cluster ${w.safe} ` +
      `(Safe ${short(w.opsSafe)}, 2 of 2: the bot and account ${ACCOUNT.safeOwner}): nodes ${LAYOUT.safe.members.join(", ")}, ` +
      `spare node ${LAYOUT.safe.spare}; replication ${REPLICATION}`,
  );
  log(
    `the app (account ${ACCOUNT.app}): 1,000 tUSD deposited and a 10-unit bucket in each cluster: buckets ${buckets.dao}, ${buckets.safe}`,
  );

  // The storage nodes start while the DAO votes on accepting its cluster (about 40 s).
  log(`starting the storage nodes (node ${nodes[0].id}–${nodes.at(-1)!.id}: \`node bin/ddc node serve --config …\`) …`);
  const starting = Promise.all(nodes.map((n) => startNodeProcess(n)));
  starting.catch(() => undefined);
  await safeAccepts(w);
  log(
    `  the Safe accepts cluster ${w.safe}, names the bot its operator and the validators (accounts 8–10): signed by both owners`,
  );
  const proposal = await daoAccepts(w, log);
  log(
    `  the DAO accepts cluster ${w.dao} the same way (proposal ${short(proposal.toString())}, executed by the Timelock)`,
  );
  await starting;
  log(`  storage nodes ready: ${nodes.map((n) => `${n.id} (pid ${n.child?.pid})`).join(", ")}; data under ${base}`);

  const signatures = join(base, "signatures");
  mkdirSync(signatures, { recursive: true });
  const intakePort = await freePort();
  const store = new BotStore(":memory:");
  const service = composeService({
    config: botConfig(w, intakePort, signatures),
    provider: w.provider,
    wallet: w.bot,
    record: w.record,
    store,
    logger: botLogger("silent"),
  });
  const at = await service.start({ schedule: false });
  teardown.add("the bot", () => service.stop());
  log(
    `the manager bot (account ${ACCOUNT.bot}): report intake at ${at.intake}; policy: a node failing ${POLICY.failingEras} ` +
      `eras running is replaced by a spare`,
  );

  const objects = makeObjects([buckets.dao, buckets.safe], count);
  const client = createStorageClient({ provider: w.provider, signer: w.app, chainId: w.chainId, core: w.core });
  await writeObjects(client, objects);
  const written = count * 2;
  const first = await readBack(client, objects);
  if (first.bad.length > 0) throw new Error(`objects not read back after writing: ${first.bad.slice(0, 5).join("; ")}`);
  log(
    `the app writes ${written} objects (${count} per bucket, some over one 64 KiB leaf) and reads them back: all intact`,
  );

  const net = new Network(w, nodes, service, store, buckets, signatures, log);
  const validators: RunningValidator[] = await startValidators(w.validators, {
    rpcUrl: w.rpcUrl,
    core: w.core,
    clusters: [w.dao, w.safe],
    botUrl: at.intake!,
    dir: base,
    provider: w.provider,
    onEra: (v, o) => net.onEra(v, o),
    light: options.light,
  });
  teardown.add("the validators", async () => {
    for (const v of validators) await v.stop();
  });
  log(`three validators (accounts ${ACCOUNT.validators.join(", ")}) measure both clusters and report to the bot`);
  log("");

  const rings = [];
  for (const c of net.clusters) rings.push({ cluster: c, before: await ring(w, c), after: [] as number[] });
  // Deadlines in wall-clock seconds: an era, and governance, pass CHAIN_SPEED times faster.
  const era = w.eraSeconds / CHAIN_SPEED;
  const tick = async () => {
    await net.runBot();
    await net.votes();
    await net.signatures();
  };
  // Each stage has its own deadline: one era to start, a few to decide, governance to pass.
  await until(
    `${healthyEras} eras decided by the bot in both clusters (the validators' reports reach its intake)`,
    era * (healthyEras + 3) + 60,
    async () => {
      await tick();
      return net.clusters.every((c) => net.decidedEras(c) >= healthyEras);
    },
    2000,
  );
  await net.inject();
  await until(
    `the replacement of node ${LAYOUT.dao.failing} (DAO) and node ${LAYOUT.safe.failing} (Safe) by the spares`,
    era * (POLICY.failingEras + 4) +
      (3 * (GOVERNANCE.votingDelay + GOVERNANCE.votingPeriod + GOVERNANCE.timelockDelay)) / CHAIN_SPEED,
    async () => {
      await tick();
      return net.replaced(w.dao) && net.replaced(w.safe);
    },
    2000,
  );
  for (const [cluster, spare, bucket] of [
    [w.dao, LAYOUT.dao.spare, buckets.dao],
    [w.safe, LAYOUT.safe.spare, buckets.safe],
  ] as const) {
    let last = "";
    await until(`node ${spare}'s repair of bucket ${bucket} (cluster ${cluster})`, 120, async () => {
      const [have, want] = await net.spareHolds(cluster, spare, bucket, objects.get(bucket)!);
      const line = `node ${spare} (spare of cluster ${cluster}) repairs its ranges: ${have} of ${want} objects of bucket ${bucket}`;
      if (line !== last) log(line);
      last = line;
      return have === want;
    });
  }
  const fresh = createStorageClient({ provider: w.provider, signer: w.app, chainId: w.chainId, core: w.core });
  const final = await readBack(fresh, objects);
  log(`the app reads every object back from the current rings: ${final.intact} of ${written} intact`);
  for (const b of final.bad.slice(0, 5)) log(`  ! ${b}`);
  if (final.bad.length > 0) net.problems.push(`${final.bad.length} objects not read back intact`);
  await net.revenueLine();

  for (const r of rings) r.after = await ring(w, r.cluster);
  const summary = await finish(net, rings, buckets, { written, intact: final.intact }, started);
  printSummary(summary, log);
  return summary;
}

/** Where everything ends, read from the chain. */
async function finish(
  net: Network,
  rings: NetworkSummary["rings"],
  buckets: { dao: number; safe: number },
  objects: NetworkSummary["objects"],
  started: number,
): Promise<NetworkSummary> {
  const { w } = net;
  const { ddc } = w.system;
  for (const r of net.replacements) {
    r.state = net.store.action(r.cluster, r.decidedInEra, "replace-node")?.state ?? r.state;
  }
  const revenue: NetworkSummary["revenue"] = [];
  for (const [p, provider] of w.providers.entries()) {
    const ids = net.providerNodes(p);
    let claimable = 0n;
    for (const n of ids) claimable += await ddc.nodeRevenue(n);
    revenue.push({ provider: provider.address, account: ACCOUNT.providers[p], nodes: ids, claimable });
  }
  const block = await w.provider.getBlock("latest");
  const now = BigInt(block!.timestamp);
  const owners: NetworkSummary["owners"] = [];
  for (const c of net.clusters) {
    const l = await ddc.getLedger(w.app.address, c);
    owners.push({
      cluster: c,
      balance: l.balance,
      coveredUntil: l.coveredUntil,
      daysLeft: Math.floor(Number(l.coveredUntil - now) / 86_400),
    });
  }
  return {
    chainId: w.chainId,
    rpcUrl: w.rpcUrl,
    core: w.core,
    contracts: w.record.contracts,
    bot: w.bot.address,
    opsSafe: w.opsSafe,
    eraSeconds: w.eraSeconds,
    clusters: [
      { id: w.dao, manager: "governor", spare: LAYOUT.dao.spare, failing: LAYOUT.dao.failing, bucket: buckets.dao },
      { id: w.safe, manager: "safe", spare: LAYOUT.safe.spare, failing: LAYOUT.safe.failing, bucket: buckets.safe },
    ],
    nodes: net.nodes.map((n) => ({ id: n.id, provider: n.provider, url: n.url })),
    injected: net.injected,
    validatorEras: net.validatorEras,
    decisions: net.decisions,
    replacements: net.replacements,
    rings,
    revenue,
    owners,
    conservation: await conservation(
      w.system,
      w.provider,
      { clusters: net.clusters, owners: [w.app.address], nodes: net.nodes.map((n) => n.id) },
      {
        distributions: net.decisions.filter((d) => d.distributed !== undefined),
        replacementsExecuted: net.replacements.filter((r) => r.executedInEra !== null).length,
      },
    ),
    objects,
    problems: net.problems,
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

function printSummary(s: NetworkSummary, log: (line: string) => void): void {
  log("");
  log("━━ Summary ━━");
  for (const c of s.clusters) {
    const decided = s.decisions.filter((d) => d.cluster === c.id);
    const excluded = decided.filter((d) => d.ineligible.length > 0);
    const paid = decided.reduce((sum, d) => sum + (d.distributed?.amount ?? 0n), 0n);
    log(
      `cluster ${c.id} (${c.manager === "governor" ? "DAO" : "Safe"}): ${decided.length} eras decided ` +
        `(${decided[0]?.era ?? "-"}–${decided.at(-1)?.era ?? "-"}, ${s.eraSeconds} s each), ` +
        `${decided.filter((d) => d.distributed !== undefined).length} distributions (${usd(paid, 6)} tUSD); ` +
        (excluded.length === 0
          ? "no node excluded"
          : `node ${list([...new Set(excluded.flatMap((d) => d.ineligible))])} excluded in ${excluded.length} eras`),
    );
  }
  for (const i of s.injected) log(`injected: node ${i.node} of cluster ${i.cluster} ${i.what} in era ${i.era}`);
  for (const r of s.replacements) {
    const how =
      r.via === "governor"
        ? `proposal ${short(r.ref)} by the bot, ${r.votes.length} votes for`
        : `Safe transaction ${short(r.ref)}, signed by the bot and ${r.signatures.length - 1} more owner`;
    log(
      `replacement in cluster ${r.cluster}: node ${r.node} → node ${list(r.replacements)}, decided in era ${r.decidedInEra} ` +
        `(${how}): ${r.state}${r.executedInEra === null ? "" : ` in era ${r.executedInEra}`}`,
    );
  }
  for (const r of s.rings) log(`ring of cluster ${r.cluster}: nodes ${r.before.join(", ")} → ${r.after.join(", ")}`);
  for (const r of s.revenue) {
    log(
      `provider ${r.account - ACCOUNT.providers[0] + 1} (account ${r.account}, ${short(r.provider)}), nodes ${r.nodes.join(", ")}: ${usd(r.claimable, 6)} tUSD to claim`,
    );
  }
  for (const o of s.owners) {
    log(`the app's owner in cluster ${o.cluster}: ${usd(o.balance)} tUSD, covered for ${o.daysLeft} more days`);
  }
  const c = s.conservation;
  log(
    `conservation: the core holds ${usd(c.core, 6)} = ledgers ${usd(c.ledgers, 6)} + pools ${usd(c.pools, 6)} + ` +
      `reserves ${usd(c.reserves, 6)} + unclaimed revenue ${usd(c.unclaimed, 6)} + fee balances ${usd(c.feeBalances, 6)} ` +
      `+ rounding dust of ${c.dust} units (at most ${c.bound}): ${c.holds ? "holds" : "BROKEN"}`,
  );
  log(`validators' era reports: ${s.validatorEras}; ${s.seconds} s in all`);
  log(s.problems.length === 0 ? "no failed run, no alert, no refused report" : `problems: ${s.problems.join("; ")}`);
  log(`objects: ${s.objects.written} written, ${s.objects.intact} read back intact`);
}
