import { expect } from "chai";
import { Writable } from "node:stream";
import { ethers } from "hardhat";
import { loadFixture, setBalance, time } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet, keccak256, parseEther } from "ethers";
import { parseEvidence, parseEvidenceUrl } from "../../governance/actions";
import { listProposals } from "../../governance/dao";
import type { BotConfig, ClusterConfig } from "../../manager-bot/src/config";
import { signReport } from "../../manager-bot/src/report";
import { botLogger, composeService } from "../../manager-bot/src/main";
import { EXIT_CODES, exitCodeOf } from "../../manager-bot/src/run";
import { BotStore } from "../../manager-bot/src/store";
import { DEFAULT_TX_OPTIONS } from "../../manager-bot/src/tx";
import { daoCluster } from "../helpers/system";
import { reportBody } from "../helpers/reports";
import { devAccount, tempDir } from "../helpers/temp";
import { join } from "node:path";

const validators = [91, 92, 93].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

async function fixture() {
  return daoCluster(validators.map((v) => v.address));
}

const cluster = (id: number, over: Partial<ClusterConfig> = {}): ClusterConfig => ({
  id,
  manager: { kind: "governor" },
  routine: "operator",
  policy: { failingEras: 1, maxPerEra: 1 },
  missed: { mode: "catch-up", waitEras: 3 },
  settlement: null,
  paused: false,
  ...over,
});

/** The service over the in-process chain, its JSON log lines captured. */
async function setup(
  options: {
    clusters?: ClusterConfig[];
    minBalance?: bigint;
    store?: BotStore;
    replicas?: string[];
    evidenceBaseUrl?: string;
  } = {},
) {
  const f = await loadFixture(fixture);
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const config: BotConfig = {
    rpc: "http://127.0.0.1:8545",
    deployment: "(in process)",
    key: { kind: "env", name: "DDC_BOT_KEY" },
    replicas: options.replicas ?? [],
    store: ":memory:",
    schedule: "*/5 * * * *",
    http: { host: "127.0.0.1", port: 0 },
    intake: { host: "127.0.0.1", port: null, directory: null },
    evidence: { baseUrl: options.evidenceBaseUrl ?? null },
    fromBlock: 0,
    clusters: options.clusters ?? [cluster(Number(f.cluster))],
    tx: { ...DEFAULT_TX_OPTIONS, receiptTimeoutMs: 5_000, pollMs: 50 },
    alerts: { minBalance: options.minBalance ?? parseEther("0.1"), stuckAfterSeconds: 3600 },
    logLevel: "debug",
  };
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const store = options.store ?? new BotStore(":memory:");
  const record = { chainId, block: 0, contracts: f.system.contracts, parameters: null };
  const service = composeService({
    config,
    provider: ethers.provider,
    wallet: devAccount(12),
    record,
    store,
    logger: botLogger("debug", sink),
  });
  const members = await f.system.ddc.clusterNodes(f.cluster);
  const report = async (era: number, by = validators, failing?: bigint) => {
    for (const v of by) {
      const body = reportBody(f.cluster, era, members, (n) => (BigInt(n) === failing ? { retrievable: false } : {}));
      const signed = await signReport(v, chainId, f.core, body);
      expect((await service.intake.submit(signed, "test")).status).to.equal("accepted");
    }
  };
  const lastClosed = async () => Number((await f.system.ddc.clusterEra(f.cluster)).era) - 1;
  return { f, service, store, lines, report, lastClosed, config };
}

const alerts = (lines: Record<string, unknown>[]) => lines.filter((l) => l.alert !== undefined).map((l) => l.alert);

describe("manager bot: the service", function () {
  it("a run decides the era, carries out routine work, proposes the replacement; the log and metrics say so", async function () {
    const { f, service, store, lines, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era, validators, f.nodes[1]);
    const run = await service.run();
    expect(run.failed).to.deep.equal([]);
    expect(run.clusters).to.have.length(1);
    const [c] = run.clusters;
    expect(c.decided.map((d) => d.era)).to.deep.equal([era]);
    expect(c.decided[0].records.map((r) => [r.kind, r.state])).to.deep.equal([
      ["distribution", "executed"],
      ["replace-node", "proposed"],
    ]);
    expect(store.lastEra(Number(f.cluster))).to.equal(era);
    // Every log line of the run carries its id; the decision is logged with its evidence.
    const ofRun = lines.filter((l) => l.run === run.run);
    expect(ofRun.map((l) => l.msg)).to.include.members([
      "run started",
      `cluster ${f.cluster} era ${era} decided`,
      "run ended",
    ]);
    expect(ofRun.find((l) => l.msg === `cluster ${f.cluster} era ${era} decided`)).to.deep.include({
      evidence: c.decided[0].hash,
    });
    const metrics = await service.metrics.registry.metrics();
    expect(metrics).to.include(`ddc_bot_eras_decided_total{cluster="${f.cluster}"} 1`);
    expect(metrics).to.include('ddc_bot_actions{state="executed"} 1');
    expect(metrics).to.include('ddc_bot_actions{state="proposed"} 1');
    expect(metrics).to.include("ddc_bot_reports_accepted_total 3");
    expect(metrics).to.include('ddc_bot_runs_total{outcome="ok"} 1');
    expect(metrics).to.match(/ddc_bot_last_success_timestamp_seconds \d{10}/);
    expect(metrics).to.match(/ddc_bot_balance_wei \d/);
    expect(metrics).to.include('ddc_bot_transactions_total{event="mined"} 2');
    // Nothing more to do: the next run decides nothing and sends nothing.
    const nonce = await ethers.provider.getTransactionCount(devAccount(12).address);
    const again = await service.run();
    expect(again.clusters[0].decided).to.deep.equal([]);
    expect(await ethers.provider.getTransactionCount(devAccount(12).address)).to.equal(nonce);
  });

  it("a stranger's proposal under the era's key is alerted as foreign-action and left alone; the bot proposes its own", async function () {
    const { f, service, lines, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era, validators, f.nodes[1]);
    // A voter above the proposal threshold pre-empts the replacement with a takeover under its key.
    const data = f.system.ddc.interface.encodeFunctionData("clusterProposeManager", [f.cluster, f.stranger.address]);
    const description = `# Replace node ${f.nodes[1]}\n\nddc-action: cluster=${f.cluster} era=${era} kind=replace-node`;
    await f.system.governor.connect(f.voters[1]).propose([f.core], [0n], [data], description);
    const planted = await f.system.governor.hashProposal([f.core], [0n], [data], ethers.id(description));
    const run = await service.run();
    const replace = run.clusters[0].decided[0].records.find((r) => r.kind === "replace-node")!;
    expect(replace.state).to.equal("proposed");
    expect(replace.ref).to.not.equal(planted.toString());
    expect(await f.system.governor.proposalProposer(BigInt(replace.ref!))).to.equal(devAccount(12).address);
    expect(run.alerts.map((a) => a.alert)).to.deep.equal(["foreign-action"]);
    expect(run.alerts[0].message).to.equal(
      `cluster ${f.cluster} era ${era} replace-node: ${planted} (by ${f.voters[1].address}) carries the decision's key ` +
        `but is not the decision: proposed by ${f.voters[1].address}, not by the bot nor a replica; ` +
        "the call calls clusterProposeManager, the decision calls clusterReplaceNode. " +
        "The bot leaves it alone and proposes its own: do not approve it",
    );
    expect(alerts(lines)).to.include("foreign-action");
    expect(await service.metrics.registry.metrics()).to.include('ddc_bot_alerts_total{alert="foreign-action"} 1');
  });

  it("two bots on two stores, replicas of each other, racing on one cluster a block apart: one proposal per decision, no failure", async function () {
    const { f, service: first, report, lastClosed, config } = await setup({ replicas: [devAccount(6).address] });
    const replica = f.voters[2];
    // The replica is an operator too (routine work), and holds votes above the proposal threshold.
    await setBalance(f.timelock, parseEther("1"));
    const timelock = await ethers.getImpersonatedSigner(f.timelock);
    await f.system.ddc.connect(timelock).clusterSetOperator(f.cluster, replica.address, true);
    const record = { chainId: first.chain.chainId, block: 0, contracts: f.system.contracts, parameters: null };
    const second = composeService({
      config: { ...config, replicas: [devAccount(12).address] },
      provider: ethers.provider,
      wallet: devAccount(6),
      record,
      store: new BotStore(":memory:"),
      logger: botLogger("silent"),
    });
    expect(replica.address).to.equal(devAccount(6).address);
    const era = await lastClosed();
    await report(era, validators, f.nodes[1]);
    const members = await f.system.ddc.clusterNodes(f.cluster);
    for (const v of validators) {
      const body = reportBody(f.cluster, era, members, (n) => (BigInt(n) === f.nodes[1] ? { retrievable: false } : {}));
      const signed = await signReport(v, first.chain.chainId, f.core, body);
      expect((await second.intake.submit(signed, "test")).status).to.equal("accepted");
    }
    const proposals = async () =>
      (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).length;
    const before = await proposals();
    const [a, b] = await Promise.all([
      first.run(),
      (async () => {
        await ethers.provider.send("evm_mine", []);
        return second.run();
      })(),
    ]);
    expect(await proposals()).to.equal(before + 1);
    for (const run of [a, b]) {
      expect(run.failed).to.deep.equal([]);
      expect(run.alerts).to.deep.equal([]);
      expect(run.clusters[0].decided.map((d) => d.era)).to.deep.equal([era]);
    }
    const [da, db] = [a.clusters[0].decided[0], b.clusters[0].decided[0]];
    expect(db.hash).to.equal(da.hash);
    expect(da.records.map((r) => [r.kind, r.state])).to.deep.equal([
      ["distribution", "executed"],
      ["replace-node", "proposed"],
    ]);
    expect(db.records.map((r) => [r.kind, r.state])).to.deep.equal([
      ["distribution", "executed"],
      ["replace-node", "proposed"],
    ]);
    expect(db.records[1].ref).to.equal(da.records[1].ref);
    expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(BigInt(era) + 1n);
    await second.stop();
  });

  it("never runs twice at once: a run asked for during one gets that one", async function () {
    const { service, report, lastClosed } = await setup();
    await report(await lastClosed());
    const [a, b] = await Promise.all([service.run(), service.run()]);
    expect(a).to.equal(b);
    expect(a.clusters[0].decided).to.have.length(1);
    expect(await service.metrics.registry.metrics()).to.include('ddc_bot_runs_total{outcome="skipped-overlap"} 1');
  });

  it("a stop asked for during a run leaves the clusters not reached for the next run; stopping twice is one stop", async function () {
    const { f, service, store, lines, report, lastClosed } = await setup({ clusters: [cluster(1), cluster(2)] });
    await report(await lastClosed());
    // Asked while the run works on cluster 1: cluster 1 is finished, cluster 2 waits.
    const running = service.run();
    service.requestStop();
    const run = await running;
    expect(run.clusters.map((c) => [c.cluster, c.decided.length])).to.deep.equal([[Number(f.cluster), 1]]);
    expect(lines.map((l) => l.msg)).to.include("stopping: cluster 2 is left for the next run");
    expect(store.lastEra(2)).to.equal(null);
    await Promise.all([service.stop(), service.stop()]);
    expect(lines.filter((l) => l.msg === "stopped")).to.have.length(1);
  });

  it("a paused cluster is left alone until resumed; a pause in the configuration too", async function () {
    const { f, service, store, report, lastClosed } = await setup();
    const id = Number(f.cluster);
    await report(await lastClosed());
    store.pause(id, "investigating node 2");
    const paused = await service.run();
    expect(paused.paused).to.deep.equal([{ cluster: id, reason: "investigating node 2" }]);
    expect(paused.clusters).to.deep.equal([]);
    expect(store.lastEra(id)).to.equal(null);
    expect(store.resume(id)).to.equal(true);
    expect((await service.run()).clusters[0].decided).to.have.length(1);
    const { service: s2 } = await setup({ clusters: [cluster(id, { paused: true })] });
    expect((await s2.run()).paused).to.deep.equal([{ cluster: id, reason: "paused in the configuration" }]);
  });

  it("raises an alert line for an era without a quorum, a low balance and a stuck action", async function () {
    let clock = 1_000;
    const store = new BotStore(join(tempDir("ddc-bot-"), "bot.sqlite"), () => clock);
    const { f, service, lines, report, lastClosed } = await setup({ minBalance: parseEther("1000000"), store });
    const era = await lastClosed();
    await report(era, validators.slice(0, 1));
    // An action moved long ago (an old proposal nobody voted on).
    store.decide({
      cluster: Number(f.cluster),
      era: 1,
      kind: "replace-node",
      executor: "governor",
      evidenceHash: null,
      evidence: null,
    });
    clock = Math.floor(Date.now() / 1000);
    const run = await service.run();
    expect(run.alerts.map((a) => a.alert).sort()).to.deep.equal(["action-stuck", "era-undecided", "low-balance"]);
    const undecided = run.alerts.find((a) => a.alert === "era-undecided")!.message;
    expect(undecided).to.equal(
      `cluster ${f.cluster} era ${era}: 1 of the 2 reports needed; missing ${validators
        .slice(1)
        .map((v) => v.address)
        .sort()
        .join(", ")}`,
    );
    expect(alerts(lines)).to.include.members(["action-stuck", "era-undecided", "low-balance"]);
    const line = lines.find((l) => l.alert === "low-balance")!;
    expect(line.level).to.equal(40); // warn
    expect(String(line.msg)).to.match(/^ALERT low-balance: the bot's key holds [\d.]+ ETH, below 1000000.0: fund 0x/);
    expect(await service.metrics.registry.metrics()).to.include('ddc_bot_alerts_total{alert="low-balance"} 1');
  });

  it("an era that never gets a quorum: exit code 3 while it waits, then a warn line names it skipped with its reason", async function () {
    const { f, service, store, lines, report, lastClosed } = await setup();
    const id = Number(f.cluster);
    const first = await lastClosed();
    const waiting = await service.run();
    expect(waiting.clusters[0].waiting?.era).to.equal(first);
    expect(waiting.alerts.map((a) => a.alert)).to.deep.equal(["era-undecided"]);
    expect(exitCodeOf(waiting)).to.equal(EXIT_CODES.undecided);
    expect(EXIT_CODES).to.deep.equal({ ok: 0, failed: 1, undecided: 3 });
    // Three later eras close (waitEras 3); their reports arrive late, at once.
    await time.increase(3 * 3600);
    for (const e of [first + 1, first + 2, first + 3]) await report(e);
    const run = await service.run();
    const reason = "no-quorum: 0 of the 2 reports needed after 3 later eras closed";
    expect(run.clusters[0].skipped).to.deep.equal([{ era: first, reason }]);
    expect(run.clusters[0].decided.map((d) => d.era)).to.deep.equal([first + 1, first + 2, first + 3]);
    expect(exitCodeOf(run)).to.equal(EXIT_CODES.ok);
    const line = lines.find((l) => l.run === run.run && l.era === first)!;
    expect(line).to.deep.include({
      level: 40,
      cluster: id,
      era: first,
      reason,
      msg: `cluster ${id} era ${first} skipped: ${reason}`,
    });
    expect(store.recentEras(id, 4).map((e) => [e.era, e.status])).to.deep.equal([
      [first + 3, "decided"],
      [first + 2, "decided"],
      [first + 1, "decided"],
      [first, "skipped"],
    ]);
    expect(await service.metrics.registry.metrics()).to.include(`ddc_bot_eras_skipped_total{cluster="${id}"} 1`);
    // A failure outranks an undecided era.
    expect(exitCodeOf({ ...waiting, failed: [{ cluster: id, error: "x" }] })).to.equal(EXIT_CODES.failed);
  });

  it("one failing cluster does not stop the others; the run is marked failed and /ready says so", async function () {
    const { f, service, report, lastClosed, lines: logLines } = await setup({ clusters: [cluster(99), cluster(1)] });
    await report(await lastClosed());
    const { ops } = await service.start({ schedule: false });
    expect((await fetch(`${ops}/ready`)).status).to.equal(200);
    const run = await service.run();
    expect(run.failed.map((x) => x.cluster)).to.deep.equal([99]);
    expect(run.failed[0].error).to.match(/ClusterNotFound|reverted/);
    expect(run.clusters.map((c) => [c.cluster, c.decided.length])).to.deep.equal([[Number(f.cluster), 1]]);
    expect(run.alerts.map((a) => a.alert)).to.deep.equal(["run-failed"]);
    const ready = await fetch(`${ops}/ready`);
    expect(ready.status).to.equal(503);
    expect(await ready.json()).to.deep.equal({ ready: false, why: "the last run failed" });
    const health = (await (await fetch(`${ops}/health`)).json()) as { status: string; lastRunOk: boolean };
    expect(health).to.deep.include({ status: "ok", lastRunOk: false });
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).to.include('ddc_bot_runs_total{outcome="failed"} 1');
    await service.stop();
    await expect(fetch(`${ops}/health`)).to.be.rejected;
    // The start-up line describes the configuration; no line holds the key.
    expect(logLines.find((l) => l.msg === "starting")).to.deep.include({
      config: {
        rpc: "http://127.0.0.1:8545",
        deployment: "(in process)",
        store: ":memory:",
        key: "env DDC_BOT_KEY",
        schedule: "*/5 * * * *",
        evidence: null,
        clusters: [
          { id: 99, manager: "governor", routine: "operator", paused: false },
          { id: 1, manager: "governor", routine: "operator", paused: false },
        ],
      },
    });
    expect(JSON.stringify(logLines)).to.not.include(devAccount(12).privateKey.slice(2));
  });

  it("publishes each decision's evidence at GET /evidence/:hash, byte for byte, and names it in what it proposes", async function () {
    const { f, service, store, report, lastClosed } = await setup({ evidenceBaseUrl: "https://bot.example/ddc/" });
    const era = await lastClosed();
    await report(era, validators, f.nodes[1]);
    const run = await service.run();
    const [decided] = run.clusters[0].decided;
    const hash = decided.hash;
    // The replacement's proposal says where the document is, under its hash.
    const ref = decided.records.find((r) => r.kind === "replace-node")!.ref!;
    const proposal = (await listProposals(f.system.governor)).find((p) => p.id.toString() === ref)!;
    expect(parseEvidence(proposal.description)).to.equal(hash);
    expect(parseEvidenceUrl(proposal.description)).to.equal(`https://bot.example/ddc/evidence/${hash}`);
    const { ops } = await service.start({ schedule: false });
    const res = await fetch(`${ops}/evidence/${hash}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal("application/json; charset=utf-8");
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(Buffer.from(store.era(Number(f.cluster), era)!.evidence!, "utf8"))).to.equal(true);
    expect(keccak256(body)).to.equal(hash);
    expect((await fetch(`${ops}/evidence/0x${hash.slice(2).toUpperCase()}`)).status).to.equal(200);
    // A hash the bot holds no document of: 404; something that is not a hash: 400.
    const unknown = "0x" + "00".repeat(32);
    const missing = await fetch(`${ops}/evidence/${unknown}`);
    expect(missing.status).to.equal(404);
    expect(await missing.json()).to.deep.equal({ error: `no evidence document ${unknown} here` });
    for (const bad of ["0x12", "0x" + "zz".repeat(32), hash.slice(2), `${hash}00`]) {
      const r = await fetch(`${ops}/evidence/${bad}`);
      expect(r.status, bad).to.equal(400);
      expect(await r.json()).to.deep.equal({ error: "the evidence hash is 0x and 64 hex digits (a keccak256)" });
    }
    await service.stop();
  });

  it("a dry run decides and simulates from each sender's address, and sends and records nothing", async function () {
    const { f, service, store, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era, validators, f.nodes[1]);
    const bot = devAccount(12).address;
    const nonce = await ethers.provider.getTransactionCount(bot);
    const plan = await service.dryRun();
    const [c] = plan.clusters;
    expect(c.eras).to.have.length(1);
    expect(c.eras[0]).to.deep.include({ era, decided: true });
    expect(c.actions.map((a) => [a.kind, a.from, a.ok])).to.deep.equal([
      ["distribution", bot, true],
      ["replace-node", f.timelock, true],
    ]);
    expect(await ethers.provider.getTransactionCount(bot)).to.equal(nonce);
    expect(store.lastEra(Number(f.cluster))).to.equal(null);
    expect(store.open()).to.deep.equal([]);
    // A call that would fail says why: the bot is no longer the cluster's operator.
    await setBalance(f.timelock, parseEther("1"));
    const timelock = await ethers.getImpersonatedSigner(f.timelock);
    await f.system.ddc.connect(timelock).clusterSetOperator(f.cluster, bot, false);
    const refused = (await service.dryRun()).clusters[0].actions.find((a) => a.kind === "distribution")!;
    expect(refused.ok).to.equal(false);
    expect(refused.revert).to.match(/^ClusterNotOperator\(/);
  });
});
