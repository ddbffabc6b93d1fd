import { expect } from "chai";
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Contract, Wallet } from "ethers";
import { safeArtifact } from "../../deploy/safe";
import { operationArgs, proposeArgs, type Proposal } from "../../governance/dao";
import { decodeCall } from "../../governance/decode";
import { DirectorySignatureStore, SafeQueue, signSafeTx } from "../../governance/safeStore";
import { TimelockController__factory } from "../../typechain-types";
import { freePort } from "../helpers/localNode";
import { devAccount, tempDir } from "../helpers/temp";
import {
  BotProcess,
  bySafe,
  ddc,
  deleteStore,
  deliver,
  explainRun,
  fileState,
  lastClosedEra,
  onChain,
  rejectedFiles,
  reportBody,
  rpc,
  runOnce,
  safeTransactions,
  startWorld,
  travel,
  twice,
  withStore,
  writeConfig,
  RpcProxy,
  type BotRun,
  type BotSetup,
  type ClusterEntry,
  type NodeOutcome,
  type World,
} from "./faultKit";

/**
 * The manager bot's faults, end to end: `npx hardhat node` with the demo world, the bot as a child
 * process (`node bin/ddc bot run`), validators' reports as files in its intake directory. One chain
 * carries the whole story, era after era, so the tests run in order:
 *
 *   the RPC node goes away and comes back (era E1) → a dropped transaction (E2) → a crash right
 *   after an operator transaction (E3, a second store) → SIGKILL at each step of a replacement era
 *   (E4: the DAO's cluster, then the Safe's) → the store deleted while both replacements are
 *   pending (E5) → the keeper killed after executing the Safe transaction, after queueing and after
 *   executing the proposal → a validator equivocates and fewer than 2/3 report (eras G, G+1, G+2).
 *
 * "Nothing done twice" is read on chain and in the Safe store: one UsageReported and one
 * RevenuesDistributed per (cluster, era), one proposal and one Safe transaction per action key.
 *
 * The demo clusters have two nodes each at replication 2: the core lets a distribution exclude no
 * node there (at most nodes − replication factor). So that a failing node is both excluded and
 * replaced, the test first adds a third node to each cluster, the DAO's by a proposal (which also
 * shortens the DAO's clocks) and the Safe's by a Safe transaction.
 */

const DAO = 1;
const SAFE = 2;
const ERA = 3600;
const GIB = 1n << 30n;

const bot = devAccount(13);
const validators = [devAccount(11), devAccount(12)];

describe("manager bot: faults, end to end with real processes", function () {
  this.timeout(600_000);
  const dir = tempDir("bot-faults");
  const intake = join(dir, "reports");
  const sideIntake = join(dir, "reports-side");
  const signatures = join(dir, "signatures");
  const store = join(dir, "bot.sqlite");
  let world: World;
  let proxy: RpcProxy;
  let env: NodeJS.ProcessEnv;
  /** The bot on both clusters, or on one (the same store). */
  let main: BotSetup;
  let daoOnly: BotSetup;
  let safeOnly: BotSetup;
  const buckets: Record<number, bigint[]> = { [DAO]: [], [SAFE]: [] };

  /** The DAO's cluster, settled by the bot each era; the Safe's, never settled. */
  const dao = (): ClusterEntry => ({ id: DAO, manager: { kind: "governor" }, settlement: { minimum: "1" } });
  const safeCluster = (): ClusterEntry => ({
    id: SAFE,
    manager: { kind: "safe", safe: world.safe, store: signatures },
  });
  const setup = (
    name: string,
    clusters: ClusterEntry[],
    o: { store?: string; intake?: string; http?: number; receiptTimeoutSeconds?: number } = {},
  ): BotSetup => ({
    config: writeConfig(join(dir, `${name}.json`), {
      rpc: proxy.url,
      deployment: world.recordFile,
      store: o.store ?? store,
      intake: o.intake ?? intake,
      clusters,
      http: o.http,
      receiptTimeoutSeconds: o.receiptTimeoutSeconds,
    }),
    env,
  });

  const members = async (cluster: number) => [...(await world.ddc.clusterNodes(cluster))];

  /** Both validators report `era` of `cluster` (the current members, the cluster's buckets measured). */
  async function reportEra(cluster: number, era: number, o: NodeOutcome = {}, where = intake): Promise<string[]> {
    const body = reportBody(cluster, era, await members(cluster), {
      buckets: buckets[cluster].map((bucket) => ({ bucket, bytes: 5n * GIB })),
      ...o,
    });
    return Promise.all(validators.map((v) => deliver(world, where, v, body)));
  }

  /** One more era closes on both clusters; returns the era each just closed. */
  async function nextEra(): Promise<Record<number, number>> {
    await travel(world.url, ERA);
    return { [DAO]: await lastClosedEra(world, DAO), [SAFE]: await lastClosedEra(world, SAFE) };
  }

  /**
   * Every closed era decided or skipped: the validators report the last eras the bot has not
   * closed (older ones without reports are skipped once `waitEras` later eras closed).
   */
  async function upToDate(): Promise<void> {
    let reported = false;
    for (const c of [DAO, SAFE]) {
      const closed = await lastClosedEra(world, c);
      const known = withStore(store, (s) => s.lastEra(c)) ?? -1;
      for (let era = Math.max(known + 1, closed - 1); era <= closed; era++) {
        await reportEra(c, era);
        reported = true;
      }
    }
    if (reported) expectRan(await runOnce(main), "the catch-up run");
    for (const c of [DAO, SAFE]) {
      expect(withStore(store, (s) => s.lastEra(c))).to.equal(await lastClosedEra(world, c));
    }
  }

  const expectRan = (r: BotRun, what: string) => expect(r.code, `${what}: ${explainRun(r)}`).to.equal(0);
  /** A run that did not fail but left an era waiting for its reports: exit code 3. */
  const expectWaited = (r: BotRun, what: string) => expect(r.code, `${what}: ${explainRun(r)}`).to.equal(3);
  const expectKilled = (r: BotRun, what: string) =>
    expect(r.signal, `${what} should have been killed at its crash point: ${explainRun(r)}`).to.equal("SIGKILL");

  const timelockDelay = () =>
    TimelockController__factory.connect(world.record.contracts.TimelockController, world.provider).getMinDelay();

  /** A proposal of account 4 passed by the voters (accounts 4–6), queued and executed. */
  async function passProposal(p: Proposal): Promise<void> {
    const { governor } = world;
    const [v1, v2, v3] = [4, 5, 6].map((i) => world.account(i));
    await (await governor.connect(v1).propose(...proposeArgs(p))).wait();
    const id = await governor.hashProposal(...operationArgs(p));
    await travel(world.url, Number(await governor.votingDelay()) + 1);
    for (const v of [v1, v2, v3]) await (await governor.connect(v).castVote(id, 1)).wait();
    await travel(world.url, Number(await governor.votingPeriod()) + 1);
    await (await governor.connect(v1).queue(...operationArgs(p))).wait();
    await travel(world.url, Number(await timelockDelay()) + 1);
    await (await governor.connect(v1).execute(...operationArgs(p))).wait();
  }

  before(async function () {
    for (const d of [intake, sideIntake, signatures]) mkdirSync(d, { recursive: true });
    world = await startWorld(dir);
    proxy = new RpcProxy({ host: "127.0.0.1", port: Number(new URL(world.url).port) });
    await proxy.open();
    env = { ...process.env, DDC_BOT_KEY: bot.privateKey, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" };
    for (const k of ["DDC_BOT_RPC", "DDC_BOT_STORE", "DDC_BOT_FAILPOINT", "DDC_BOT_LOG_LEVEL"]) delete env[k];
    main = setup("bot", [dao(), safeCluster()]);
    daoOnly = setup("bot-dao", [dao()]);
    safeOnly = setup("bot-safe", [safeCluster()]);

    const { ddc: core } = world;
    for (let b = 1n; b <= (await core.bucketCount()); b++) buckets[Number((await core.getBucket(b)).cluster)].push(b);
    // A third node in each cluster (nodes 5 and 6, of the demo's providers, who trust both managers).
    const params = { engine: "ddc-storage", version: "1.0.0", urls: [], metadata: "fault tests" };
    for (const provider of [world.account(7), world.account(8)]) {
      await (await core.connect(provider).nodeCreate(Wallet.createRandom().address, 1000n, 1_000_000n, params)).wait();
    }
    expect(await core.nodeCount()).to.equal(6n);
    await bySafe(
      world,
      join(dir, "setup-signatures"),
      world.core,
      core.interface.encodeFunctionData("clusterAddNode", [SAFE, 6n, [(6n << 40n) + 1n]]),
    );
    // The same proposal shortens the DAO's clocks (a vote of two eras, a Timelock delay of 10
    // minutes): the bot's proposal later passes in about two eras, not after 96 eras.
    const { governor } = world;
    const timelock = TimelockController__factory.connect(world.record.contracts.TimelockController, world.provider);
    await passProposal({
      actions: [
        { target: world.core, data: core.interface.encodeFunctionData("clusterAddNode", [DAO, 5n, [5n << 40n]]) },
        {
          target: world.record.contracts.DDCGovernor,
          data: governor.interface.encodeFunctionData("setVotingDelay", [1]),
        },
        {
          target: world.record.contracts.DDCGovernor,
          data: governor.interface.encodeFunctionData("setVotingPeriod", [2 * ERA]),
        },
        { target: await timelock.getAddress(), data: timelock.interface.encodeFunctionData("updateDelay", [600]) },
      ],
      description: "# Add node 5 to cluster 1\n\nA third node: a failing one can then be excluded and replaced.",
    });
    expect([await governor.votingDelay(), await governor.votingPeriod(), await timelockDelay()]).to.deep.equal([
      1n,
      BigInt(2 * ERA),
      600n,
    ]);
    expect(await members(DAO)).to.deep.equal([1n, 3n, 5n]);
    expect(await members(SAFE)).to.deep.equal([2n, 4n, 6n]);
    // Two minutes into an era of both clusters: the wall clock's minutes during the test never
    // close an era that the test did not close itself.
    const now = BigInt((await world.provider.getBlock("latest"))!.timestamp);
    const ends = await Promise.all([DAO, SAFE].map(async (c) => (await core.clusterEra(c)).end));
    const target = (ends[0] > ends[1] ? ends[0] : ends[1]) + 120n;
    await travel(world.url, Number(target - now));
    for (const c of [DAO, SAFE]) {
      const [, start, end] = await core.clusterEra(c);
      const at = BigInt((await world.provider.getBlock("latest"))!.timestamp);
      expect(Number(at - start), `cluster ${c}'s phase`).to.be.within(60, 1800);
      expect(end - at).to.be.greaterThan(1800n);
    }
  });

  after(async function () {
    await proxy?.cut();
    world?.provider.destroy();
    await world?.node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("the RPC node goes away mid-era and comes back", function () {
    let e1: Record<number, number>;
    let files: string[];

    it("with the node away before the bot starts, a --once run fails with a run-failed alert", async function () {
      await proxy.cut();
      try {
        const r = await runOnce(main);
        expect(r.code, explainRun(r)).to.equal(1);
        expect(withStore(store, (s) => Object.values(s.countByState()).reduce((a, b) => a + b))).to.equal(0);
        expect(
          r.alerts.map((a) => a.alert),
          `no alert line: ${explainRun(r)}`,
        ).to.include("run-failed");
      } finally {
        await proxy.restore();
      }
    });

    it("a run while the node is away fails (exit 1, a run-failed alert) and records or sends nothing", async function () {
      e1 = { [DAO]: await lastClosedEra(world, DAO), [SAFE]: await lastClosedEra(world, SAFE) };
      // The validators deliver while the node is away.
      files = [...(await reportEra(DAO, e1[DAO])), ...(await reportEra(SAFE, e1[SAFE]))];
      const before = await onChain(world);
      // The node goes away once the bot has started (its nonce read): its first eth_call fails.
      proxy.cutOn("eth_call");
      try {
        const r = await runOnce(main);
        expect(r.code, explainRun(r)).to.equal(1);
        expect(proxy.up).to.equal(false);
        expect(r.alerts.map((a) => a.alert)).to.include("run-failed");
        expect(withStore(store, (s) => [s.lastEra(DAO), s.lastEra(SAFE), s.open().length])).to.deep.equal([
          null,
          null,
          0,
        ]);
        expect(withStore(store, (s) => Object.values(s.countByState()).reduce((a, b) => a + b))).to.equal(0);
        expect(await onChain(world)).to.deep.equal(before);
        // The reports that came in meanwhile are kept for the next run, not refused.
        const refused = files.map((f) => [f, fileState(intake, f)]).filter(([, s]) => typeof s === "object");
        expect(refused, "reports refused because the node was away").to.deep.equal([]);
      } finally {
        await proxy.restore();
        // Whatever happened above, the story goes on with these reports (validators deliver again).
        for (const f of rejectedFiles(intake)) {
          renameSync(join(intake, "rejected", f), join(intake, f));
          rmSync(join(intake, "rejected", `${f}.reason`), { force: true });
        }
      }
    });

    it("once the node is back, the next run decides the era: distributed once, nothing twice", async function () {
      const r = await runOnce(main);
      expectRan(r, "the run after the node came back");
      for (const f of files) expect(fileState(intake, f), f).to.equal("accepted");
      const chain = await onChain(world);
      for (const c of [DAO, SAFE]) {
        expect(chain.distributions[`${c}/${e1[c]}`], `cluster ${c} era ${e1[c]} distributed`).to.equal(1);
        expect(chain.usage[`${c}/${e1[c]}`], `cluster ${c} era ${e1[c]} usage`).to.equal(1);
        const era = withStore(store, (s) => s.era(c, e1[c]));
        expect(era).to.include({ status: "decided", carried: true });
      }
      expect([...twice(chain.usage), ...twice(chain.distributions)]).to.deep.equal([]);
    });

    it("as a service: /ready 503 after a failed run and 200 after a good one, RPC errors counted, SIGTERM exits 0", async function () {
      const port = await freePort();
      const service = setup("service", [dao(), safeCluster()], { http: port });
      const before = await onChain(world);
      const p = new BotProcess(["bot", "run", "--config", service.config], env);
      const http = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: res.status, body: await res.text() };
      };
      try {
        const goodRun = (l: { msg?: string; failed?: unknown }) => l.msg === "run ended" && l.failed === 0;
        await p.waitFor(goodRun, 30_000);
        expect((await http("/ready")).status).to.equal(200);
        await proxy.cut();
        let mark = p.lines.length;
        await p.waitFor((l) => l.alert === "run-failed", 30_000, mark);
        const notReady = await http("/ready");
        expect(notReady.status).to.equal(503);
        expect(JSON.parse(notReady.body)).to.deep.equal({ ready: false, why: "the last run failed" });
        const metrics = (await http("/metrics")).body;
        const rpcErrors = [...metrics.matchAll(/^ddc_bot_rpc_errors_total\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
        expect(
          rpcErrors.reduce((a, b) => a + b, 0),
          metrics,
        ).to.be.greaterThan(0);
        expect(metrics).to.match(/^ddc_bot_runs_total\{outcome="failed"\} [1-9]/m);
        await proxy.restore();
        mark = p.lines.length;
        await p.waitFor(goodRun, 30_000, mark);
        expect((await http("/ready")).status).to.equal(200);
      } finally {
        await proxy.restore();
        p.kill("SIGTERM");
      }
      const exit = await p.exited;
      expect(exit, p.stderr).to.deep.equal({ code: 0, signal: null });
      expect(p.lines.map((l) => l.msg)).to.include("stopped");
      expect(await onChain(world)).to.deep.equal(before);
    });
  });

  describe("a transaction dropped from the mempool", function () {
    it("is sent again and mined once", async function () {
      const e2 = await nextEra();
      await reportEra(DAO, e2[DAO]);
      await reportEra(SAFE, e2[SAFE]);
      const drop = setup("drop", [dao(), safeCluster()], { receiptTimeoutSeconds: 2 });
      // The test mines by hand: it drops the bot's first transaction from the node's mempool, then
      // mines whatever is pending.
      await rpc(world.url, "evm_setAutomine", [false]);
      let dropped: string | undefined;
      const p = new BotProcess(["bot", "run", "--config", drop.config, "--once"], env);
      try {
        let running = true;
        void p.exited.then(() => (running = false));
        while (running) {
          const pending = await rpc<{ transactions: { hash: string; from: string }[] }>(
            world.url,
            "eth_getBlockByNumber",
            ["pending", true],
          );
          const mine = pending.transactions.filter((t) => t.from.toLowerCase() === bot.address.toLowerCase());
          if (dropped === undefined && mine.length > 0) {
            expect(await rpc<boolean>(world.url, "hardhat_dropTransaction", [mine[0].hash])).to.equal(true);
            dropped = mine[0].hash;
          } else if (pending.transactions.length > 0) {
            await rpc(world.url, "evm_mine");
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      } catch (error) {
        p.kill("SIGKILL");
        throw error;
      } finally {
        await rpc(world.url, "evm_setAutomine", [true]);
        await rpc(world.url, "evm_mine");
      }
      const exit = await p.exited;
      const r = `${p.stdout}\n${p.stderr}`;
      expect(exit, r).to.deep.equal({ code: 0, signal: null });
      expect(dropped, "the bot sent nothing").to.not.equal(undefined);
      const resent = p.lines.filter((l) => l.msg === "transaction dropped");
      expect(resent.map((l) => (l.tx as { hash: string }).hash)).to.deep.equal([dropped]);
      const receipt = await world.provider.getTransactionReceipt(dropped!);
      expect(receipt?.status, "the dropped transaction, sent again, is mined").to.equal(1);
      const chain = await onChain(world);
      for (const c of [DAO, SAFE]) expect(chain.distributions[`${c}/${e2[c]}`]).to.equal(1);
      expect([...twice(chain.usage), ...twice(chain.distributions)]).to.deep.equal([]);
    });
  });

  describe("SIGKILL at each step of an action, then a normal run", function () {
    let e4: Record<number, number>;
    let proposalId: bigint;
    let safeTxHash: string;

    it("action-sent after an operator transaction (usage report, distribution): the restart sends it no second time", async function () {
      // A second bot store on the Safe's cluster (its own reports directory): whatever it leaves
      // behind does not touch the main store.
      const e3 = await nextEra();
      await reportEra(DAO, e3[DAO]);
      await reportEra(SAFE, e3[SAFE], {}, sideIntake);
      const sideStore = join(dir, "side.sqlite");
      const side = setup("bot-side", [safeCluster()], { store: sideStore, intake: sideIntake });
      const key = `${SAFE}/${e3[SAFE]}`;
      const inStore = () =>
        withStore(sideStore, (s) => [
          s.action(SAFE, e3[SAFE], "usage-report")?.state,
          s.action(SAFE, e3[SAFE], "distribution")?.state,
        ]);
      // Killed once the usage report is mined (unrecorded), once it is recorded, once the
      // distribution is mined (unrecorded); then a normal run.
      for (const [point, expected] of [
        ["action-sent", ["decided", undefined]],
        ["action-recorded", ["executed", undefined]],
        ["action-sent", ["executed", "decided"]],
      ] as const) {
        expectKilled(await runOnce(side, point), point);
        expect(inStore(), `the second store after ${point}`).to.deep.equal(expected);
      }
      const last = await runOnce(side);
      const chain = await onChain(world);
      expect(
        { usage: chain.usage[key], distributions: chain.distributions[key], lastRun: last.code },
        `cluster ${SAFE} era ${e3[SAFE]} after crashes right after sending: ${explainRun(last)}`,
      ).to.deep.equal({ usage: 1, distributions: 1, lastRun: 0 });
      expect(withStore(sideStore, (s) => s.era(SAFE, e3[SAFE])?.carried)).to.equal(true);
    });

    it("the DAO's cluster: era-recorded, action-recorded ×2, action-sent on the proposal, action-recorded: one proposal, the era carried", async function () {
      // The main store first decides the DAO cluster's last era, and records the Safe cluster's era
      // that the second store distributed (whatever became of it) as skipped, without repeating it.
      const before = await onChain(world);
      expectRan(await runOnce(main), "the main bot");
      const e3 = { [DAO]: await lastClosedEra(world, DAO), [SAFE]: await lastClosedEra(world, SAFE) };
      const after = await onChain(world);
      expect(after.distributions[`${DAO}/${e3[DAO]}`]).to.equal(1);
      expect(after.distributions[`${SAFE}/${e3[SAFE]}`]).to.equal(before.distributions[`${SAFE}/${e3[SAFE]}`]);
      expect(withStore(store, (s) => [s.lastEra(DAO), s.lastEra(SAFE)])).to.deep.equal([e3[DAO], e3[SAFE]]);
      // The era the second store distributed is recorded as skipped, with why: not passed over.
      expect(withStore(store, (s) => s.era(SAFE, e3[SAFE]))).to.include({
        status: "skipped",
        reason: `distributed on chain without this bot (the core's next distribution era is ${e3[SAFE] + 1})`,
      });
      e4 = await nextEra();
      await reportEra(DAO, e4[DAO], { failing: [1n] });
      await reportEra(SAFE, e4[SAFE], { failing: [2n] });
      const key = `${DAO}/${e4[DAO]}`;
      const replaceKey = `${key}/replace-node`;
      const state = () =>
        withStore(store, (s) => ({
          era: s.era(DAO, e4[DAO])?.carried ?? null,
          usage: s.action(DAO, e4[DAO], "usage-report")?.state ?? null,
          distribution: s.action(DAO, e4[DAO], "distribution")?.state ?? null,
          replace: s.action(DAO, e4[DAO], "replace-node")?.state ?? null,
        }));
      const chain = async () => {
        const c = await onChain(world);
        return {
          usage: c.usage[key] ?? 0,
          distributions: c.distributions[key] ?? 0,
          proposals: c.proposals[replaceKey] ?? 0,
        };
      };
      const steps: [
        string,
        { era: boolean | null; usage: string | null; distribution: string | null; replace: string | null },
        { usage: number; distributions: number; proposals: number },
      ][] = [
        [
          "era-recorded",
          { era: false, usage: null, distribution: null, replace: null },
          { usage: 0, distributions: 0, proposals: 0 },
        ],
        [
          "action-recorded",
          { era: false, usage: "executed", distribution: null, replace: null },
          { usage: 1, distributions: 0, proposals: 0 },
        ],
        [
          "action-recorded",
          { era: false, usage: "executed", distribution: "executed", replace: null },
          { usage: 1, distributions: 1, proposals: 0 },
        ],
        [
          "action-sent",
          { era: false, usage: "executed", distribution: "executed", replace: "decided" },
          { usage: 1, distributions: 1, proposals: 1 },
        ],
        [
          "action-recorded",
          { era: false, usage: "executed", distribution: "executed", replace: "proposed" },
          { usage: 1, distributions: 1, proposals: 1 },
        ],
      ];
      for (const [point, inStore, onTheChain] of steps) {
        const r = await runOnce(daoOnly, point);
        expectKilled(r, point);
        expect(state(), `the store after ${point}`).to.deep.equal(inStore);
        expect(await chain(), `the chain after ${point}`).to.deep.equal(onTheChain);
      }
      expectRan(await runOnce(daoOnly), "the normal run");
      expect(state()).to.deep.equal({ era: true, usage: "executed", distribution: "executed", replace: "proposed" });
      expect(await chain()).to.deep.equal({ usage: 1, distributions: 1, proposals: 1 });
      // The proposal the store names is the one on chain: node 1 replaced, with this era's evidence.
      const created = await world.governor.queryFilter(world.governor.filters.ProposalCreated(), 0);
      const proposal = created.find((p) =>
        p.args.description.includes(`ddc-action: cluster=${DAO} era=${e4[DAO]} kind=replace-node`),
      )!;
      proposalId = proposal.args.proposalId;
      expect(withStore(store, (s) => s.action(DAO, e4[DAO], "replace-node")?.ref)).to.equal(proposalId.toString());
      const call = decodeCall({ to: proposal.args.targets[0], data: proposal.args.calldatas[0], value: 0n });
      expect(call.text).to.match(
        new RegExp(
          `^DDCCore\\.clusterReplaceNode\\(cluster=${DAO}, node=1, replacements=\\[\\d+\\], evidenceHash=${withStore(store, (s) => s.era(DAO, e4[DAO])?.evidenceHash)}\\)$`,
        ),
      );
      expect(proposal.args.proposer).to.equal(bot.address);
    });

    it("the Safe's cluster: era-recorded, action-recorded ×2, action-sent on the Safe transaction: one Safe transaction, signed by the bot", async function () {
      const key = `${SAFE}/${e4[SAFE]}`;
      const replaceKey = `${key}/replace-node`;
      const state = () =>
        withStore(store, (s) => [
          s.era(SAFE, e4[SAFE])?.carried,
          ...(["usage-report", "distribution", "replace-node"] as const).map((k) => s.action(SAFE, e4[SAFE], k)?.state),
        ]);
      const steps = [
        ["era-recorded", [false, undefined, undefined, undefined], 0],
        ["action-recorded", [false, "executed", undefined, undefined], 0],
        ["action-recorded", [false, "executed", "executed", undefined], 0],
        // The Safe transaction is in the signature store with the bot's signature, the store does not know.
        ["action-sent", [false, "executed", "executed", "decided"], 1],
      ] as const;
      for (const [point, inStore, safeTxs] of steps) {
        expectKilled(await runOnce(safeOnly, point), point);
        expect(state(), `the store after ${point}`).to.deep.equal(inStore);
        expect((await safeTransactions(signatures, world.safe))[replaceKey] ?? 0).to.equal(safeTxs);
      }
      expectRan(await runOnce(safeOnly), "the normal run");
      expect(await safeTransactions(signatures, world.safe)).to.deep.equal({ [replaceKey]: 1 });
      const chain = await onChain(world);
      expect([chain.usage[key], chain.distributions[key]]).to.deep.equal([1, 1]);
      const action = withStore(store, (s) => s.action(SAFE, e4[SAFE], "replace-node"))!;
      expect(action.state).to.equal("awaiting-signatures");
      const queue = new SafeQueue(world.provider, world.chainId, world.safe, new DirectorySignatureStore(signatures));
      const entry = await queue.entry(action.ref!);
      safeTxHash = entry.safeTxHash;
      expect(entry.confirmations).to.deep.equal([bot.address]);
      expect(decodeCall({ ...entry.data, value: 0n }).text).to.match(
        new RegExp(
          `^DDCCore\\.clusterReplaceNode\\(cluster=${SAFE}, node=2, replacements=\\[\\d+\\], evidenceHash=${withStore(store, (s) => s.era(SAFE, e4[SAFE])?.evidenceHash)}\\)$`,
        ),
      );
      expect(withStore(store, (s) => s.era(SAFE, e4[SAFE])?.carried)).to.equal(true);
    });

    it("the store deleted while both replacements are pending: the bot adopts them, proposes nothing new and distributes nothing again", async function () {
      const before = await onChain(world);
      const safeBefore = await safeTransactions(signatures, world.safe);
      deleteStore(store);
      // One more era, the same nodes still failing: the adopted replacements are pending, so none
      // is decided again.
      const e5 = await nextEra();
      await reportEra(DAO, e5[DAO], { failing: [1n] });
      await reportEra(SAFE, e5[SAFE], { failing: [2n] });
      const r = await runOnce(main);
      expectRan(r, "the run after the store was deleted");
      const adopted = r.lines
        .filter((l) => l.msg === "adopted a live action the store did not know")
        .map((l) => [l.cluster, l.era, l.kind, l.ref]);
      expect(adopted).to.deep.equal([
        [DAO, e4[DAO], "replace-node", proposalId.toString()],
        [SAFE, e4[SAFE], "replace-node", safeTxHash],
      ]);
      expect(
        withStore(store, (s) => [DAO, SAFE].map((c) => [s.action(c, e4[c], "replace-node")?.state, s.lastEra(c)])),
      ).to.deep.equal([
        ["proposed", e5[DAO]],
        ["awaiting-signatures", e5[SAFE]],
      ]);
      const after = await onChain(world);
      const expected = { ...before.distributions, [`${DAO}/${e5[DAO]}`]: 1, [`${SAFE}/${e5[SAFE]}`]: 1 };
      expect(after.distributions).to.deep.equal(expected);
      expect(after.proposals).to.deep.equal(before.proposals);
      expect(await safeTransactions(signatures, world.safe)).to.deep.equal(safeBefore);
    });

    it("keeper-sent after the Safe transaction executed: the restart records it, executed once", async function () {
      const queue = new SafeQueue(world.provider, world.chainId, world.safe, new DirectorySignatureStore(signatures));
      const entry = await queue.entry(safeTxHash);
      const owner = world.account(1);
      await queue.addSignature(
        safeTxHash,
        owner.address,
        await signSafeTx(owner, world.chainId, world.safe, entry.data),
      );
      expectKilled(await runOnce(safeOnly, "keeper-sent"), "keeper-sent");
      const safe = new Contract(world.safe, safeArtifact("Safe").abi as never[], world.provider);
      const executions = async () => (await safe.queryFilter(safe.filters.ExecutionSuccess(safeTxHash), 0)).length;
      expect(await executions()).to.equal(1);
      expect(withStore(store, (s) => s.action(SAFE, e4[SAFE], "replace-node")?.state)).to.equal("awaiting-signatures");
      expectRan(await runOnce(safeOnly), "the normal run");
      expect(withStore(store, (s) => s.action(SAFE, e4[SAFE], "replace-node")?.state)).to.equal("executed");
      expect(await executions()).to.equal(1);
      expect(await members(SAFE)).to.not.include(2n);
      expect(await members(SAFE)).to.have.length(3);
    });

    it("keeper-sent after queueing and after executing the DAO's proposal: each done once, node 1 replaced", async function () {
      const { governor } = world;
      await travel(world.url, Number(await governor.votingDelay()) + 1);
      for (const i of [4, 5, 6]) await (await governor.connect(world.account(i)).castVote(proposalId, 1)).wait();
      await travel(world.url, Number(await governor.votingPeriod()) + 1);
      const replaceKey = `${DAO}/${e4[DAO]}/replace-node`;
      const state = () => withStore(store, (s) => s.action(DAO, e4[DAO], "replace-node")?.state);
      expectKilled(await runOnce(daoOnly, "keeper-sent"), "keeper-sent (queue)");
      expect((await onChain(world)).queued[replaceKey]).to.equal(1);
      expect(state()).to.equal("proposed");
      await travel(world.url, Number(await timelockDelay()) + 1);
      expectKilled(await runOnce(daoOnly, "keeper-sent"), "keeper-sent (execute)");
      expect((await onChain(world)).executed[replaceKey]).to.equal(1);
      expect(state()).to.equal("queued");
      // The votes and the Timelock's delay took the chain past an era nobody reported: it waits (exit 3).
      expectWaited(await runOnce(daoOnly), "the normal run");
      expect(state()).to.equal("executed");
      const chain = await onChain(world);
      expect([chain.proposals[replaceKey], chain.queued[replaceKey], chain.executed[replaceKey]]).to.deep.equal([
        1, 1, 1,
      ]);
      expect(await members(DAO)).to.not.include(1n);
      expect(await members(DAO)).to.have.length(3);
    });
  });

  describe("validators that do not make a quorum", function () {
    let g: Record<number, number>;

    it("a validator equivocates: its two reports are dropped, the era is not decided and an alert names it", async function () {
      await upToDate();
      g = await nextEra();
      const [v11, v12] = validators;
      const nodes = await members(SAFE);
      const a = await deliver(world, intake, v11, reportBody(SAFE, g[SAFE], nodes), "-a");
      const b = await deliver(world, intake, v11, reportBody(SAFE, g[SAFE], nodes, { score: 9_600 }), "-b");
      await deliver(world, intake, v12, reportBody(SAFE, g[SAFE], nodes));
      const r = await runOnce(safeOnly);
      expectWaited(r, "the run");
      expect(fileState(intake, a)).to.equal("accepted"); // accepted when it came, no longer counted
      const second = fileState(intake, b);
      expect(second)
        .to.have.property("rejected")
        .that.matches(/^equivocation: /);
      expect(withStore(store, (s) => s.reportsFor(SAFE, g[SAFE]).map((x) => x.validator))).to.deep.equal([v12.address]);
      const alert = r.alerts.find((l) => l.alert === "era-undecided" && l.cluster === SAFE)!;
      expect(alert, explainRun(r)).to.not.equal(undefined);
      expect(alert.msg).to.equal(
        `ALERT era-undecided: cluster ${SAFE} era ${g[SAFE]}: 1 of the 2 reports needed; missing ${v11.address}`,
      );
      expect(withStore(store, (s) => s.era(SAFE, g[SAFE]))).to.equal(undefined);
      expect((await onChain(world)).distributions[`${SAFE}/${g[SAFE]}`]).to.equal(undefined);
    });

    it("fewer than 2/3 report: the era waits with an alert, is skipped once waitEras later eras closed, and the later ones are decided in order", async function () {
      const [v11, v12] = validators;
      await deliver(world, intake, v11, reportBody(DAO, g[DAO], await members(DAO)));
      const r = await runOnce(main);
      expectWaited(r, "the run");
      const undecided = r.alerts.filter((l) => l.alert === "era-undecided").map((l) => l.msg);
      expect(undecided).to.deep.equal([
        `ALERT era-undecided: cluster ${DAO} era ${g[DAO]}: 1 of the 2 reports needed; missing ${v12.address}`,
        `ALERT era-undecided: cluster ${SAFE} era ${g[SAFE]}: 1 of the 2 reports needed; missing ${v11.address}`,
      ]);
      // One more era with every report: it waits behind the undecided one.
      const g1 = await nextEra();
      for (const c of [DAO, SAFE]) await reportEra(c, g1[c]);
      const held = await runOnce(main);
      expectWaited(held, "the run one era later");
      expect(held.alerts.filter((l) => l.alert === "era-undecided").map((l) => l.era)).to.deep.equal([g[DAO], g[SAFE]]);
      for (const c of [DAO, SAFE]) {
        expect(withStore(store, (s) => [s.era(c, g[c]), s.era(c, g1[c])])).to.deep.equal([undefined, undefined]);
      }
      // waitEras (2) later eras have closed: the silent era is skipped, the later ones decided in order.
      const g2 = await nextEra();
      for (const c of [DAO, SAFE]) await reportEra(c, g2[c]);
      const done = await runOnce(main);
      expectRan(done, "the run two eras later");
      expect(done.alerts.filter((l) => l.alert === "era-undecided")).to.deep.equal([]);
      const chain = await onChain(world);
      const distributed = await world.ddc.queryFilter(world.ddc.filters.RevenuesDistributed(), 0);
      for (const c of [DAO, SAFE]) {
        const skipped = withStore(store, (s) => s.era(c, g[c]));
        expect(skipped).to.include({
          status: "skipped",
          reason: "no-quorum: 1 of the 2 reports needed after 2 later eras closed",
        });
        expect(chain.distributions[`${c}/${g[c]}`]).to.equal(undefined);
        const order = distributed
          .filter((e) => Number(e.args.cluster) === c && Number(e.args.era) >= g[c])
          .map((e) => Number(e.args.era));
        expect(order).to.deep.equal([g1[c], g2[c]]);
      }
      const status = await ddc(["--json", "bot", "status", "--config", main.config], env);
      expect(status.code, status.stderr).to.equal(0);
      const parsed = JSON.parse(status.stdout) as { clusters: { cluster: number; lastEra: number }[]; open: unknown[] };
      expect(parsed.clusters.map((c) => [c.cluster, c.lastEra])).to.deep.equal([
        [DAO, g2[DAO]],
        [SAFE, g2[SAFE]],
      ]);
      expect(parsed.open).to.deep.equal([]);
    });
  });

  describe("the whole story", function () {
    it("has one usage report and one distribution per (cluster, era), one proposal and one Safe transaction per action key", async function () {
      const chain = await onChain(world);
      expect({
        usage: twice(chain.usage),
        distributions: twice(chain.distributions),
        proposals: twice(chain.proposals),
        queued: twice(chain.queued),
        executed: twice(chain.executed),
        safe: twice(await safeTransactions(signatures, world.safe)),
      }).to.deep.equal({ usage: [], distributions: [], proposals: [], queued: [], executed: [], safe: [] });
    });
  });
});
