import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import hre from "hardhat";
import { getAddress, parseEther } from "ethers";
import type { ActionKind } from "../governance/actions";
import { stateName, vote } from "../governance/dao";
import { DirectorySignatureStore, SafeQueue, signSafeTx } from "../governance/safeStore";
import type { Aggregation } from "../manager-bot/src/aggregate";
import type { BotConfig, ClusterConfig } from "../manager-bot/src/config";
import { signReport, type ReportBody } from "../manager-bot/src/report";
import { botLogger, composeService } from "../manager-bot/src/main";
import type { BotService } from "../manager-bot/src/service";
import type { RunReport } from "../manager-bot/src/run";
import { BotStore } from "../manager-bot/src/store";
import { DEFAULT_TX_OPTIONS } from "../manager-bot/src/tx";
import { TestStablecoin__factory } from "../typechain-types";
import {
  ACCOUNT,
  DAY,
  bucketsOf,
  deploy,
  devKey,
  gib,
  list,
  now,
  ring,
  scriptedBytes,
  scriptedNode,
  setUp,
  short,
  travel,
  travelTo,
  usd,
  votes,
  type World,
} from "./botDemoWorld";

export { DEMO_GOVERNANCE, SCENARIO, scriptedBytes, scriptedNode, usd } from "./botDemoWorld";

/**
 * `npm start`: the manager bot runs two clusters on the embedded chain, era by era.
 *
 * The demo world of `npm run deploy -- --demo` (a DAO cluster and a Safe cluster) is deployed in
 * this process, then the real `BotService` (built as `ddc bot run` builds it, without its HTTP
 * servers and schedule) runs twice an era: once the era has closed and the validators' reports
 * are in (it settles, reports usage, distributes, proposes replacements), and once mid-era, after
 * the voters voted and the Safe's owners signed (its keeper queues and executes).
 *
 * Until storage nodes exist to be measured, the validators (accounts 11 and 12) sign reports of a
 * scripted scenario ({@link SCENARIO}): all healthy; then node 1 of the DAO cluster degrades and
 * is replaced by a DAO vote, and node 4 of the Safe cluster degrades and is replaced by a Safe
 * transaction that the bot signs as one owner and a second owner signs.
 */

export const DEFAULT_ERAS = 8;

/** The bot's replacement policy in the demo. */
export const POLICY = { failingEras: 2, maxPerEra: 1 };

/** An era's decision as the story tells it: the aggregation's scores, ineligible nodes and usage, and more. */
export interface EraDecisionLine extends Pick<
  Extract<Aggregation, { decided: true }>,
  "scores" | "ineligible" | "usage"
> {
  cluster: number;
  era: number;
  /** The story's step (1-based) that closed this era. */
  step: number;
  evidence: string;
  actions: { kind: string; state: string; ref: string | null }[];
  /** What the era's distribution paid (from its `RevenuesDistributed` event). */
  distributed?: { amount: bigint; fees: bigint; toNodes: bigint; toReserve: bigint };
  replacement?: { node: number; replacements: number[] };
}

export interface ReplacementLine {
  cluster: number;
  node: number;
  replacements: number[];
  /** "governor" (a DAO proposal) or "safe" (a Safe transaction). */
  via: string;
  /** The proposal id or the Safe transaction hash. */
  ref: string;
  decidedInEra: number;
  state: string;
  /** The cluster's era during which the ring changed (null: it did not). */
  executedInEra: number | null;
  votes: { voter: string; support: "for" }[];
  /** Owners whose signatures are in the store (the bot's first). */
  signatures: string[];
}

export interface DemoSummary {
  chainId: number;
  core: string;
  bot: string;
  /** The deployment record's contracts (DDCCore, DDCGovernor, …). */
  contracts: Record<string, string>;
  /** The operations Safe managing the Safe cluster. */
  opsSafe: string;
  /** Account 9's bucket in the DAO cluster, which grows past its reservation. */
  growingBucket: number;
  clusters: { id: number; manager: "governor" | "safe"; managerAddress: string }[];
  /** The era each step closed, per cluster. */
  steps: { step: number; closed: Record<number, number> }[];
  decisions: EraDecisionLine[];
  replacements: ReplacementLine[];
  /** The ring's nodes (in token order) at the start of the story and at its end. */
  rings: { cluster: number; before: number[]; after: number[] }[];
  revenue: { provider: string; account: number; nodes: number[]; claimable: bigint }[];
  reserves: { cluster: number; reserve: bigint }[];
  owners: {
    owner: string;
    account: number;
    cluster: number;
    balance: bigint;
    billedUnits: bigint;
    coveredUntil: bigint;
    daysLeft: number;
  }[];
  conservation: {
    core: bigint;
    ledgers: bigint;
    pools: bigint;
    reserves: bigint;
    unclaimed: bigint;
    feeBalances: bigint;
    dust: bigint;
    /** The most rounding may leave: two units per distribution and one per membership sync. */
    bound: bigint;
    holds: boolean;
  };
  /** What went wrong: failed runs, alerts, rejected reports (empty when all went well). */
  problems: string[];
}

/** The bot's configuration, as a `ddc bot run` configuration file would give it. */
function botConfig(w: World, signatureStore: string): BotConfig {
  const common: Omit<ClusterConfig, "id" | "manager"> = {
    routine: "operator",
    policy: POLICY,
    missed: { mode: "catch-up", waitEras: 3 },
    settlement: { minimum: "1" },
    paused: false,
  };
  return {
    rpc: "http://127.0.0.1:8545", // unused: the provider is the in-process one
    deployment: "(in process)",
    key: { kind: "env", name: "DDC_BOT_KEY" }, // unused: the wallet is handed over
    store: ":memory:",
    schedule: "*/5 * * * *", // unused: the story calls run() itself
    replicas: [],
    http: { host: "127.0.0.1", port: 0 },
    intake: { host: "127.0.0.1", port: null, directory: null },
    evidence: { baseUrl: null },
    fromBlock: w.record.block,
    clusters: [
      { id: w.dao, manager: { kind: "governor" }, ...common },
      { id: w.safe, manager: { kind: "safe", safe: w.opsSafe, store: signatureStore }, ...common },
    ],
    tx: { ...DEFAULT_TX_OPTIONS, receiptTimeoutMs: 10_000, pollMs: 50 },
    alerts: { minBalance: parseEther("0.1"), stuckAfterSeconds: 7 * DAY },
    logLevel: "silent",
  };
}

type Evidence = {
  aggregation: {
    scores: EraDecisionLine["scores"];
    ineligible: number[];
    usage: { bucket: number; measuredBytes: string; units: string }[];
  };
  actions: { kind: string; node?: number; replacements?: number[] }[];
};

/** The story: the world, the bot service, the validators, the voters and the Safe's owners. */
class Story {
  readonly summary: DemoSummary;
  private readonly validators = ACCOUNT.validators.map((i) => devKey(i));
  private readonly ownersQueue: SafeQueue;
  private claimable = new Map<string, bigint>();

  constructor(
    private readonly w: World,
    private readonly service: BotService,
    private readonly store: BotStore,
    signatureStore: string,
    private readonly growing: number,
    private readonly eraLength: bigint,
    private readonly log: (line: string) => void,
  ) {
    this.ownersQueue = new SafeQueue(
      hre.ethers.provider,
      w.chainId,
      w.opsSafe,
      new DirectorySignatureStore(signatureStore),
    );
    this.summary = {
      chainId: w.chainId,
      core: w.core,
      bot: devKey(ACCOUNT.bot).address,
      contracts: w.record.contracts,
      opsSafe: w.opsSafe,
      growingBucket: growing,
      clusters: [
        { id: w.dao, manager: "governor", managerAddress: w.record.contracts.TimelockController },
        { id: w.safe, manager: "safe", managerAddress: w.opsSafe },
      ],
      steps: [],
      decisions: [],
      replacements: [],
      rings: [],
      revenue: [],
      reserves: [],
      owners: [],
      conservation: {
        core: 0n,
        ledgers: 0n,
        pools: 0n,
        reserves: 0n,
        unclaimed: 0n,
        feeBalances: 0n,
        dust: 0n,
        bound: 0n,
        holds: false,
      },
      problems: [],
    };
  }

  private get clusters(): number[] {
    return [this.w.dao, this.w.safe];
  }

  private kind(cluster: number): string {
    return cluster === this.w.dao ? "DAO" : "Safe";
  }

  private async rings(): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    for (const c of this.clusters) out.set(c, await ring(this.w, c));
    return out;
  }

  async start(): Promise<void> {
    const { w, log } = this;
    for (const c of this.clusters) this.summary.rings.push({ cluster: c, before: await ring(w, c), after: [] });
    log("");
    log(
      `The manager bot: key ${this.summary.bot} (account ${ACCOUNT.bot}), operator of both clusters; ` +
        `replacements go to the Governor (cluster ${w.dao}) and to the Safe ${short(w.opsSafe)} (cluster ${w.safe}).`,
    );
    log(
      `Policy: a node failing ${POLICY.failingEras} eras running is replaced (at most ${POLICY.maxPerEra} a cluster ` +
        `an era); buckets are settled once 1 tUSD has accrued or once an era; missed eras are caught up.`,
    );
    for (const c of this.clusters) {
      log(`Cluster ${c} (${this.kind(c)}): ring ${(await ring(w, c)).map((n) => `node ${n}`).join(", ")}`);
    }
    const nonce = await this.service.signer.reconcile();
    log(`The bot's nonce manager is reconciled with the chain (next nonce ${nonce.next}).`);
  }

  /** One era: it closes, the validators report, the bot decides; mid-era, people act, the bot keeps. */
  async era(step: number, of: number): Promise<void> {
    const { w, log } = this;
    let end = 0n;
    for (const c of this.clusters) {
      const [, , e] = await w.system.ddc.clusterEra(c);
      if (e > end) end = e;
    }
    await travelTo(end);
    const closed: Record<number, number> = {};
    for (const c of this.clusters) closed[c] = Number((await w.system.ddc.clusterEra(c)).era) - 1;
    this.summary.steps.push({ step, closed });
    log("");
    log(`━━ Era ${step} of ${of}: ${this.clusters.map((c) => `cluster ${c} era ${closed[c]}`).join(", ")} closed ━━`);
    await this.report(step, closed);

    let before = await this.rings();
    const run = await this.service.run();
    for (const c of run.clusters) {
      for (const d of c.decided) await this.decided(step, c.cluster, d);
      for (const s of c.skipped) log(`cluster ${c.cluster} era ${s.era} skipped: ${s.reason}`);
      if (c.waiting !== undefined) log(`cluster ${c.cluster} era ${c.waiting.era} waits for reports`);
    }
    await this.keeper(run, before);
    this.problems(run);
    await this.figures(step === 1 ? closed[this.w.dao] : undefined);

    await travel(this.eraLength / 2n);
    const people = [...(await this.votes()), ...(await this.signatures())];
    before = await this.rings();
    const keeperRun = await this.service.run();
    if (people.length > 0 || keeperRun.clusters.some((c) => c.keeper.length > 0 || c.decided.length > 0)) {
      log("mid-era:");
      for (const line of people) log(`  ${line}`);
      await this.keeper(keeperRun, before);
    }
    this.problems(keeperRun);
  }

  /** The validators sign the scripted scenario's measurements of the closed eras and send them in. */
  private async report(step: number, closed: Record<number, number>): Promise<void> {
    const { w } = this;
    const counts: string[] = [];
    for (const c of this.clusters) {
      const members = (await w.system.ddc.clusterNodes(c)).map(Number).sort((a, b) => a - b);
      const buckets = await bucketsOf(w, c);
      let accepted = 0;
      for (const [v, validator] of this.validators.entries()) {
        const body: ReportBody = {
          cluster: c,
          era: closed[c],
          nodes: members.map((node) => scriptedNode(step, node, v)),
          buckets: buckets.map((b) => ({
            bucket: b,
            measuredBytes: scriptedBytes(step, b, this.growing, v).toString(),
          })),
        };
        const signed = await signReport(validator, w.chainId, w.core, body);
        const verdict = await this.service.intake.submit(signed, `demo validator (account ${ACCOUNT.validators[v]})`);
        if (verdict.status === "accepted") accepted++;
        else
          this.summary.problems.push(`validator ${ACCOUNT.validators[v]}'s report of cluster ${c}: ${verdict.reason}`);
      }
      counts.push(`cluster ${c} ${accepted} of ${this.validators.length}`);
    }
    this.log(`signed reports accepted by the bot: ${counts.join(", ")}`);
  }

  /** An era the bot decided: what it saw, what it did, from its evidence and the chain. */
  private async decided(
    step: number,
    cluster: number,
    d: RunReport["clusters"][number]["decided"][number],
  ): Promise<void> {
    const { w, log } = this;
    const doc = JSON.parse(this.store.era(cluster, d.era)!.evidence!) as Evidence;
    const planned = doc.actions.find((a) => a.kind === "replace-node");
    const line: EraDecisionLine = {
      cluster,
      era: d.era,
      step,
      evidence: d.hash,
      scores: doc.aggregation.scores,
      ineligible: doc.aggregation.ineligible,
      usage: doc.aggregation.usage.map((u) => ({
        bucket: u.bucket,
        measuredBytes: BigInt(u.measuredBytes),
        units: BigInt(u.units),
      })),
      actions: d.records.map((r) => ({ kind: r.kind, state: r.state, ref: r.ref })),
      ...(planned === undefined ? {} : { replacement: { node: planned.node!, replacements: planned.replacements! } }),
    };
    // Rent reaches the pool through the settlement batch and through the usage report, which
    // settles each ledger whose billed units change.
    const settled = { batch: 0n, usage: 0n };
    for (const r of d.records) {
      if (r.executor !== "operator" || r.state !== "executed" || r.ref === null) continue;
      const receipt = await hre.ethers.provider.getTransactionReceipt(r.ref);
      for (const entry of receipt?.logs ?? []) {
        const event = w.system.ddc.interface.parseLog(entry);
        if (event?.name === "PaymentsSettled") settled.batch += event.args.total as bigint;
        if (event?.name === "LedgerSettled") settled.usage += event.args.paid as bigint;
        if (event?.name === "RevenuesDistributed") {
          const a = event.args;
          line.distributed = {
            amount: a.amount as bigint,
            fees: (a.networkFee as bigint) + (a.managementFee as bigint),
            toNodes: a.toNodes as bigint,
            toReserve: a.toReserve as bigint,
          };
        }
      }
    }
    this.summary.decisions.push(line);

    log(`cluster ${cluster} (${this.kind(cluster)}) era ${d.era} decided (evidence ${short(d.hash)})`);
    log(
      `  scores ${line.scores.map((s) => `node ${s.node} ${s.score.toLocaleString("en-US")}`).join(" · ")}; ` +
        `ineligible: ${list(line.ineligible)}`,
    );
    const billed: string[] = [];
    for (const u of line.usage) {
      const b = await w.system.ddc.getBucket(u.bucket);
      billed.push(`bucket ${u.bucket} ${gib(u.measuredBytes)} = ${u.units} units, billed ${b.billed}`);
    }
    log(`  usage: ${billed.join(" · ")}`);
    log(`  actions: ${line.actions.map((a) => `${a.kind} ${a.state}`).join(" · ")}`);
    const figures: string[] = [];
    const sources = [
      ...(settled.batch > 0n ? [`${usd(settled.batch, 4)} by the settlement batch`] : []),
      ...(settled.usage >= 100n ? [`${usd(settled.usage, 4)} by the usage report`] : []),
    ];
    if (sources.length > 0) figures.push(`rent settled into the pool ${sources.join(" + ")}`);
    const t = line.distributed;
    if (t !== undefined) {
      figures.push(
        `pool distributed ${usd(t.amount, 4)}: fees ${usd(t.fees, 4)}, nodes ${usd(t.toNodes, 4)}, ` +
          `reserve ${usd(t.toReserve, 4)}${line.ineligible.length > 0 ? ` (node ${list(line.ineligible)}'s share)` : ""}`,
      );
    }
    log(`  tUSD: ${figures.join("; ")}`);

    const replace = d.records.find((r) => r.kind === "replace-node");
    if (replace === undefined || line.replacement === undefined || replace.ref === null) return;
    const { node, replacements } = line.replacement;
    this.summary.replacements.push({
      cluster,
      node,
      replacements,
      via: replace.executor,
      ref: replace.ref,
      decidedInEra: d.era,
      state: replace.state,
      executedInEra: null,
      votes: [],
      signatures: replace.executor === "safe" ? [this.summary.bot] : [],
    });
    const failed = `node ${node} failed ${POLICY.failingEras} eras running`;
    log(
      replace.executor === "governor"
        ? `  → ${failed}: the bot proposes to the Governor to replace it by node ${list(replacements)} ` +
            `(proposal ${short(replace.ref)})`
        : `  → ${failed}: the bot puts a Safe transaction replacing it by node ${list(replacements)} in the ` +
            `signature store, signed by itself as one owner (${short(replace.ref)}: 1 of ${await this.ownersQueue.threshold()})`,
    );
  }

  /** The keeper's moves in a run, and the ring changes they made. */
  private async keeper(run: RunReport, before: Map<number, number[]>): Promise<void> {
    const { w, log } = this;
    for (const c of run.clusters) {
      for (const k of c.keeper) {
        const ref = this.store.action(c.cluster, k.era, k.kind as ActionKind)?.ref;
        const r = this.summary.replacements.find((x) => x.cluster === c.cluster && x.ref === ref);
        if (r !== undefined) r.state = k.state;
        const what = r === undefined ? k.kind : `replacement of node ${r.node} by node ${list(r.replacements)}`;
        log(`  the bot's keeper: cluster ${c.cluster}: ${what} ${k.state}`);
      }
    }
    for (const c of this.clusters) {
      const after = await ring(w, c);
      const was = before.get(c)!;
      if (after.join() === was.join()) continue;
      const gone = was.filter((n) => !after.includes(n));
      const joined = after.filter((n) => !was.includes(n));
      const era = Number((await w.system.ddc.clusterEra(c)).era);
      for (const r of this.summary.replacements) {
        if (r.cluster === c && gone.includes(r.node) && r.executedInEra === null) r.executedInEra = era;
      }
      log(
        `  cluster ${c}'s ring in era ${era}: node ${list(gone)} out, node ${list(joined)} in → ` +
          `${after.map((n) => `node ${n}`).join(", ")}`,
      );
    }
  }

  private problems(run: RunReport): void {
    for (const f of run.failed) {
      this.summary.problems.push(`run failed: cluster ${f.cluster ?? "-"}: ${f.error}`);
      this.log(`  ! cluster ${f.cluster ?? "-"}: ${f.error}`);
    }
    for (const a of run.alerts) {
      this.summary.problems.push(`alert ${a.alert}: ${a.message}`);
      this.log(`  ! alert ${a.alert}: ${a.message}`);
    }
  }

  /** The voters vote for the bot's proposals that are open for voting. */
  private async votes(): Promise<string[]> {
    const { governor } = this.w.system;
    const lines: string[] = [];
    for (const r of this.summary.replacements.filter((x) => x.via === "governor" && x.executedInEra === null)) {
      const id = BigInt(r.ref);
      if (stateName(await governor.state(id)) !== "Active") continue;
      for (const [i, voter] of this.w.voters.entries()) {
        if (await governor.hasVoted(id, voter.address)) continue;
        const reason = `node ${r.node} failed its QoS ${POLICY.failingEras} eras running; the evidence checks out`;
        await vote(governor.connect(voter), id, "for", reason);
        r.votes.push({ voter: voter.address, support: "for" });
        const weight = await governor.getVotes(voter.address, await governor.proposalSnapshot(id));
        lines.push(`voter ${ACCOUNT.voters[i]} votes for proposal ${short(r.ref)} (${votes(weight)} DDCG)`);
      }
      const tally = await governor.proposalVotes(id);
      const quorum = await governor.quorum(await governor.proposalSnapshot(id));
      const left = Number((await governor.proposalDeadline(id)) - (await now())) / 60;
      lines.push(
        `proposal ${short(r.ref)}: for ${votes(tally.forVotes)}, against ${votes(tally.againstVotes)} DDCG ` +
          `(quorum ${votes(quorum)}); the vote closes in ${Math.round(left)} min`,
      );
    }
    return lines;
  }

  /** A second owner of the operations Safe signs the bot's transactions waiting in the store. */
  private async signatures(): Promise<string[]> {
    const { w } = this;
    const lines: string[] = [];
    const owner = w.safeOwners[0];
    for (const r of this.summary.replacements.filter((x) => x.via === "safe" && x.executedInEra === null)) {
      const entry = await this.ownersQueue.entry(r.ref);
      if (entry.ready || entry.status === "stale" || entry.status === "executed") continue;
      await this.ownersQueue.addSignature(
        r.ref,
        owner.address,
        await signSafeTx(owner, w.chainId, w.opsSafe, entry.data),
      );
      r.signatures.push(owner.address);
      const after = await this.ownersQueue.entry(r.ref);
      const title = (entry.description ?? "").split("\n")[0].replace(/^# /, "");
      lines.push(
        `Safe owner account ${ACCOUNT.safeOwners[0]} reads "${title}" in the signature store and signs: ` +
          `${after.confirmations.length} of ${after.threshold} signatures, ${after.status}`,
      );
    }
    return lines;
  }

  /** The nodes of each provider (every node it registered). */
  private async providerNodes(): Promise<Map<string, number[]>> {
    const { ddc } = this.w.system;
    const byProvider = new Map<string, number[]>(this.w.providers.map((p) => [p.address, []]));
    const count = Number(await ddc.nodeCount());
    for (let n = 1; n <= count; n++) byProvider.get((await ddc.getNode(n)).provider)?.push(n);
    return byProvider;
  }

  /** Each provider's revenue to claim, the reserves, and each owner's balance and coverage. */
  private async figures(firstEra?: number): Promise<void> {
    const { w, log } = this;
    const { ddc } = w.system;
    const parts: string[] = [];
    const byProvider = await this.providerNodes();
    for (const [i, p] of w.providers.entries()) {
      const nodes = byProvider.get(p.address)!;
      let total = 0n;
      for (const n of nodes) total += await ddc.nodeRevenue(n);
      const gained = total - (this.claimable.get(p.address) ?? 0n);
      this.claimable.set(p.address, total);
      parts.push(`provider ${ACCOUNT.providers[i]} (nodes ${nodes.join(", ")}) ${usd(total, 4)} (+${usd(gained, 4)})`);
    }
    const reserves: string[] = [];
    for (const c of this.clusters) reserves.push(`cluster ${c} ${usd((await ddc.clusterRevenue(c)).reserve, 4)}`);
    log(`revenue to claim, tUSD: ${parts.join(" · ")}; reserves: ${reserves.join(", ")}`);
    if (firstEra !== undefined) {
      const days = Math.round((firstEra * Number(this.eraLength)) / DAY);
      log(`  (the first distribution pays out the rent settled since the clusters opened, ${days} days ago)`);
    }
    const t = await now();
    const coverage: string[] = [];
    for (const [i, o] of w.owners.entries()) {
      const per: string[] = [];
      for (const c of this.clusters) {
        const l = await ddc.getLedger(o.address, c);
        per.push(`cluster ${c} ${usd(l.balance)} tUSD, ${Math.floor(Number(l.coveredUntil - t) / DAY)} days`);
      }
      coverage.push(`account ${ACCOUNT.owners[i]}: ${per.join(", ")}`);
    }
    log(`owners' coverage: ${coverage.join(" · ")}`);
  }

  /** Where everything ends, read from the chain. */
  async finish(): Promise<DemoSummary> {
    const s = this.summary;
    const { w } = this;
    const { ddc } = w.system;
    for (const r of s.rings) r.after = await ring(w, r.cluster);
    for (const r of s.replacements)
      r.state = this.store.action(r.cluster, r.decidedInEra, "replace-node")?.state ?? r.state;
    const byProvider = await this.providerNodes();
    for (const [i, p] of w.providers.entries()) {
      const nodes = byProvider.get(p.address)!;
      let claimable = 0n;
      for (const n of nodes) claimable += await ddc.nodeRevenue(n);
      s.revenue.push({ provider: p.address, account: ACCOUNT.providers[i], nodes, claimable });
    }
    for (const c of this.clusters) s.reserves.push({ cluster: c, reserve: (await ddc.clusterRevenue(c)).reserve });
    const t = await now();
    for (const [i, o] of w.owners.entries()) {
      for (const c of this.clusters) {
        const l = await ddc.getLedger(o.address, c);
        let billedUnits = 0n;
        for (const b of await bucketsOf(w, c, o.address)) billedUnits += (await ddc.getBucket(b)).billed;
        s.owners.push({
          owner: o.address,
          account: ACCOUNT.owners[i],
          cluster: c,
          balance: l.balance,
          billedUnits,
          coveredUntil: l.coveredUntil,
          daysLeft: Math.floor(Number(l.coveredUntil - t) / DAY),
        });
      }
    }
    s.conservation = await this.conservation();
    return s;
  }

  /**
   * Every token the core holds is owed to someone: the ledgers, the revenue pools, the reserves,
   * the providers' unclaimed revenue and the fee balances, plus rounding dust: less than one unit
   * per membership sync (each exclusion, and each member whose weight a replacement changed) and
   * two per distribution.
   */
  private async conservation(): Promise<DemoSummary["conservation"]> {
    const { w, summary } = this;
    const { ddc } = w.system;
    const token = TestStablecoin__factory.connect(w.system.paymentToken, hre.ethers.provider);
    const core = await token.balanceOf(w.core);
    let ledgers = 0n;
    let pools = 0n;
    let reserves = 0n;
    const feeHolders = new Set<string>([getAddress((await ddc.globalParams()).feeDestination)]);
    let members = 0;
    for (const c of this.clusters) {
      for (const o of w.owners) ledgers += (await ddc.getLedger(o.address, c)).balance;
      const view = await ddc.getCluster(c);
      pools += view.revenuePool;
      reserves += (await ddc.clusterRevenue(c)).reserve;
      feeHolders.add(getAddress(view.manager));
      members = Math.max(members, Number(view.nodeCount));
    }
    let unclaimed = 0n;
    const nodes = Number(await ddc.nodeCount());
    for (let n = 1; n <= nodes; n++) unclaimed += await ddc.nodeRevenue(n);
    let feeBalances = 0n;
    for (const a of feeHolders) feeBalances += await ddc.accountBalance(a);
    const dust = core - ledgers - pools - reserves - unclaimed - feeBalances;
    const distributions = summary.decisions.filter((d) => d.distributed !== undefined);
    const syncs =
      distributions.reduce((n, d) => n + d.ineligible.length, 0) +
      summary.replacements.filter((r) => r.executedInEra !== null).length * (members + 1);
    const bound = BigInt(2 * distributions.length + syncs);
    return { core, ledgers, pools, reserves, unclaimed, feeBalances, dust, bound, holds: dust >= 0n && dust <= bound };
  }
}

function printSummary(s: DemoSummary, eras: number, log: (line: string) => void): void {
  log("");
  log("━━ Summary ━━");
  for (const c of s.clusters) {
    const decided = s.decisions.filter((d) => d.cluster === c.id);
    const excluded = decided.filter((d) => d.ineligible.length > 0);
    const nodes = [...new Set(excluded.flatMap((d) => d.ineligible))];
    const done = (kind: string) =>
      decided.filter((d) => d.actions.some((a) => a.kind === kind && a.state === "executed"));
    const paid = decided.reduce((sum, d) => sum + (d.distributed?.amount ?? 0n), 0n);
    log(
      `cluster ${c.id} (${c.manager === "governor" ? "DAO" : "Safe"}): ${decided.length} of ${eras} eras decided ` +
        `(${decided[0]?.era ?? "-"}–${decided.at(-1)?.era ?? "-"}); usage reported in ${done("usage-report").length}, ` +
        `due buckets settled in ${done("settlement").length}, ${done("distribution").length} distributions ` +
        `(${usd(paid, 4)} tUSD); ` +
        (nodes.length === 0 ? "no node excluded" : `node ${list(nodes)} excluded in ${excluded.length} eras`),
    );
  }
  for (const r of s.replacements) {
    const how =
      r.via === "governor"
        ? `proposal ${short(r.ref)} by the bot, ${r.votes.length} votes for`
        : `Safe transaction ${short(r.ref)}, signed by the bot and ${r.signatures.length - 1} more owner`;
    log(
      `replacement in cluster ${r.cluster}: node ${r.node} → node ${list(r.replacements)}, decided in era ` +
        `${r.decidedInEra} (${how}): ${r.state}${r.executedInEra === null ? "" : ` in era ${r.executedInEra}`}`,
    );
  }
  for (const r of s.rings) log(`ring of cluster ${r.cluster}: nodes ${r.before.join(", ")} → ${r.after.join(", ")}`);
  for (const r of s.revenue) {
    log(
      `provider ${r.account} (${short(r.provider)}), nodes ${r.nodes.join(", ")}: ${usd(r.claimable, 4)} tUSD to claim`,
    );
  }
  log(
    `reserves (excluded nodes' shares): ${s.reserves.map((r) => `cluster ${r.cluster} ${usd(r.reserve, 4)}`).join(", ")} tUSD`,
  );
  for (const o of s.owners) {
    log(
      `owner ${o.account}, cluster ${o.cluster}: ${usd(o.balance)} tUSD, billed ${o.billedUnits} units, ` +
        `covered for ${o.daysLeft} more days`,
    );
  }
  const c = s.conservation;
  log(
    `conservation: the core holds ${usd(c.core, 6)} = ledgers ${usd(c.ledgers, 6)} + pools ${usd(c.pools, 6)} + ` +
      `reserves ${usd(c.reserves, 6)} + unclaimed revenue ${usd(c.unclaimed, 6)} + fee balances ${usd(c.feeBalances, 6)} ` +
      `+ rounding dust of ${c.dust} units (at most ${c.bound}): ${c.holds ? "holds" : "BROKEN"}`,
  );
  log(s.problems.length === 0 ? "no failed run, no alert, no rejected report" : `problems: ${s.problems.join("; ")}`);
}

/**
 * Runs the story on the in-process Hardhat network and returns what happened (every figure read
 * from the chain or the bot's store); `log` receives each line to print.
 */
export async function runBotDemo(log: (line: string) => void, options: { eras?: number } = {}): Promise<DemoSummary> {
  const eras = options.eras ?? DEFAULT_ERAS;
  log("DDC on the embedded chain: the manager bot runs a DAO cluster and a Safe cluster, era by era.");
  log("(Validators sign reports from a scripted scenario until storage nodes can be measured.)");
  log("");
  const w = await deploy(log);
  await setUp(w, log);
  const signatureStore = mkdtempSync(join(tmpdir(), "ddc-demo-signatures-"));
  const store = new BotStore(":memory:");
  const service = composeService({
    config: botConfig(w, signatureStore),
    provider: hre.ethers.provider,
    wallet: devKey(ACCOUNT.bot),
    record: w.record,
    store,
    logger: botLogger("silent"),
  });
  try {
    const [growing] = await bucketsOf(w, w.dao, w.owners[0].address);
    const eraLength = BigInt((await w.system.ddc.getCluster(w.dao)).params.eraLength);
    const story = new Story(w, service, store, signatureStore, growing, eraLength, log);
    await story.start();
    for (let step = 1; step <= eras; step++) await story.era(step, eras);
    const summary = await story.finish();
    printSummary(summary, eras, log);
    return summary;
  } finally {
    await service.stop();
    rmSync(signatureStore, { recursive: true, force: true });
  }
}
