import { expect } from "chai";
import { GovernorExecutor, OperatorExecutor } from "../../manager-bot/src/executors";
import { ethers } from "hardhat";
import { loadFixture, setBalance, time } from "@nomicfoundation/hardhat-network-helpers";
import { JsonRpcProvider, Wallet, parseEther } from "ethers";
import { advanceCluster, decideAndAct, snapshotNow, type EraInput, type MissedEras } from "../../manager-bot/src/bot";
import { decideEra } from "../../manager-bot/src/decide";
import { coreChainView } from "../../manager-bot/src/chain";
import { ReportIntake } from "../../manager-bot/src/intake";
import { signReport } from "../../manager-bot/src/report";
import type { BotStore } from "../../manager-bot/src/store";
import { DDCLens__factory } from "../../typechain-types";
import { daoCluster } from "../helpers/system";
import { reportBody } from "../helpers/reports";
import { devAccount, tempBotStore } from "../helpers/temp";

const validators = [81, 82, 83].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));
const ERA = 3600;

async function fixture() {
  return daoCluster(validators.map((v) => v.address));
}

/** A DAO-managed cluster, its bot's inputs, and validators that report an era (all nodes healthy). */
async function setup(store: BotStore = tempBotStore()) {
  const f = await loadFixture(fixture);
  const ddc = f.system.ddc;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const chain = coreChainView(ddc, ethers.provider, chainId);
  const intake = new ReportIntake(chain, store);
  const cluster = Number(f.cluster);
  const members = await ddc.clusterNodes(f.cluster);
  const report = async (era: number, by = validators) => {
    for (const v of by) {
      const signed = await signReport(v, chainId, f.core, reportBody(cluster, era, members));
      expect((await intake.submit(signed, "test")).status).to.equal("accepted");
    }
  };
  const input: EraInput = {
    ddc,
    chain,
    store,
    cluster,
    policy: { failingEras: 2, maxPerEra: 1 },
    routine: new OperatorExecutor({ bot: f.bot }),
    structural: new GovernorExecutor(f.system.governor, { bot: f.bot }),
    lens: DDCLens__factory.connect(f.system.contracts.DDCLens, ethers.provider),
  };
  const lastClosed = async () => Number((await ddc.clusterEra(cluster)).era) - 1;
  const nextEra = async () => Number((await ddc.clusterRevenue(cluster)).nextEra);
  return { f, ddc, store, input, report, lastClosed, nextEra, cluster };
}

const catchUp: MissedEras = { mode: "catch-up", waitEras: 2 };

describe("manager bot: eras after downtime", function () {
  it("catches up the missed eras in order: each is decided and distributed once", async function () {
    const { store, input, report, lastClosed, nextEra } = await setup();
    const first = await lastClosed();
    await report(first);
    // A bot that knows nothing starts with the last closed era.
    const start = await advanceCluster({ ...input, missed: catchUp });
    expect(start.decided.map((d) => d.era)).to.deep.equal([first]);
    expect(await nextEra()).to.equal(first + 1);
    // Down for three eras; the validators kept reporting.
    await time.increase(3 * ERA);
    for (const e of [first + 1, first + 2, first + 3]) await report(e);
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.decided.map((d) => d.era)).to.deep.equal([first + 1, first + 2, first + 3]);
    expect(run.skipped).to.deep.equal([]);
    for (const d of run.decided) {
      expect(d.records.map((r) => [r.kind, r.state])).to.deep.equal([["distribution", "executed"]]);
      expect(store.era(input.cluster, d.era)).to.deep.include({
        status: "decided",
        evidenceHash: d.hash,
        carried: true,
      });
    }
    expect(await nextEra()).to.equal(first + 4);
    // Up to date: nothing more to do.
    expect(await advanceCluster({ ...input, missed: catchUp })).to.deep.equal({
      cluster: input.cluster,
      decided: [],
      skipped: [],
    });
  });

  it("skips the missed eras by policy: only the last closed one is decided, the others are recorded as skipped", async function () {
    const { store, input, report, lastClosed, nextEra } = await setup();
    const first = await lastClosed();
    await report(first);
    await advanceCluster({ ...input, missed: catchUp });
    await time.increase(3 * ERA);
    for (const e of [first + 1, first + 2, first + 3]) await report(e);
    const run = await advanceCluster({ ...input, missed: { mode: "skip", waitEras: 2 } });
    expect(run.decided.map((d) => d.era)).to.deep.equal([first + 3]);
    const reason = "missed.mode=skip: only the last closed era is decided";
    expect(run.skipped).to.deep.equal([
      { era: first + 1, reason },
      { era: first + 2, reason },
    ]);
    expect(store.era(input.cluster, first + 1)).to.deep.include({ status: "skipped", reason, evidenceHash: null });
    // The skipped eras' revenue went with the last distribution; the chain moved past them.
    expect(await nextEra()).to.equal(first + 4);
  });

  it("an era without a quorum holds the later ones back, and is skipped once `waitEras` later eras closed", async function () {
    const { store, input, report, lastClosed, nextEra } = await setup();
    const first = await lastClosed();
    await report(first);
    await advanceCluster({ ...input, missed: catchUp });
    await time.increase(2 * ERA);
    await report(first + 1, validators.slice(0, 1)); // 1 of the 3 needed (⌈2·3/3⌉ = 2)
    await report(first + 2);
    const waiting = await advanceCluster({ ...input, missed: catchUp });
    expect(waiting.decided).to.deep.equal([]);
    expect(waiting.waiting).to.deep.equal({
      era: first + 1,
      missing: validators
        .slice(1)
        .map((v) => v.address)
        .sort(),
      have: 1,
      need: 2,
    });
    expect(await nextEra()).to.equal(first + 1);
    // One more era closes: the silent era has waited two eras and is skipped; the others are decided.
    await time.increase(ERA);
    await report(first + 3);
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.skipped).to.deep.equal([
      { era: first + 1, reason: "no-quorum: 1 of the 2 reports needed after 2 later eras closed" },
    ]);
    expect(run.decided.map((d) => d.era)).to.deep.equal([first + 2, first + 3]);
    expect(store.lastEra(input.cluster)).to.equal(first + 3);
    expect(await nextEra()).to.equal(first + 4);
  });

  it("a bot started before any report: four eras whose reports arrive late, at once, are all decided in order", async function () {
    const { ddc, store, input, report, lastClosed, nextEra } = await setup();
    const first = await lastClosed();
    // Started before any report: the era waits (and is remembered as the first the bot answers for).
    const start = await advanceCluster({ ...input, missed: catchUp });
    expect(start.decided).to.deep.equal([]);
    expect(start.waiting).to.deep.include({ era: first, have: 0, need: 2 });
    expect(store.startEra(input.cluster)).to.equal(first);
    // Three more eras close; then the reports of all four arrive at once.
    await time.increase(3 * ERA);
    expect(await lastClosed()).to.equal(first + 3);
    const eras = [first, first + 1, first + 2, first + 3];
    for (const e of eras) await report(e);
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.decided.map((d) => d.era)).to.deep.equal(eras);
    expect(run.skipped).to.deep.equal([]);
    expect(run.waiting).to.equal(undefined);
    for (const e of eras) expect(store.era(input.cluster, e)).to.deep.include({ status: "decided", carried: true });
    const distributed = await ddc.queryFilter(ddc.filters.RevenuesDistributed(input.cluster));
    expect(distributed.map((x) => Number(x.args.era))).to.deep.equal(eras);
    expect(await nextEra()).to.equal(first + 4);
  });

  it("a bot that ran every era without reports skips the first with its reason, then decides the late batch in order", async function () {
    const { f, store, input, report, lastClosed, nextEra, cluster } = await setup();
    const first = await lastClosed();
    for (let i = 0; i < 2; i++) {
      const run = await advanceCluster({ ...input, missed: catchUp });
      expect(run.waiting?.era).to.equal(first);
      expect(run.skipped).to.deep.equal([]);
      await time.increase(ERA);
    }
    // Two later eras have closed: the first is skipped (waitEras 2), the next one waits.
    const third = await advanceCluster({ ...input, missed: catchUp });
    const reason = "no-quorum: 0 of the 2 reports needed after 2 later eras closed";
    expect(third.skipped).to.deep.equal([{ era: first, reason }]);
    expect(third.waiting?.era).to.equal(first + 1);
    await time.increase(ERA);
    // The late batch: the skipped era's reports are refused as late, the others taken in.
    const chainId = Number((await ethers.provider.getNetwork()).chainId);
    const members = await f.system.ddc.clusterNodes(f.cluster);
    const late = await signReport(validators[0], chainId, f.core, reportBody(cluster, first, members));
    expect(await new ReportIntake(input.chain, store).submit(late, "test")).to.deep.include({
      status: "rejected",
      reason: "late",
    });
    for (const e of [first + 1, first + 2, first + 3]) await report(e);
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.decided.map((d) => d.era)).to.deep.equal([first + 1, first + 2, first + 3]);
    expect(run.skipped).to.deep.equal([]);
    expect(store.era(cluster, first)).to.deep.include({ status: "skipped", reason, evidenceHash: null });
    expect(store.recentEras(cluster, 10).map((e) => [e.era, e.status])).to.deep.equal([
      [first + 3, "decided"],
      [first + 2, "decided"],
      [first + 1, "decided"],
      [first, "skipped"],
    ]);
    expect(await nextEra()).to.equal(first + 4);
  });

  it("eras the chain shows distributed without the bot are recorded as skipped with that reason, not passed over", async function () {
    const { f, ddc, store, input, report, lastClosed, nextEra, cluster } = await setup();
    const first = await lastClosed();
    await report(first);
    await advanceCluster({ ...input, missed: catchUp });
    await time.increase(3 * ERA);
    // The bot's key, an operator, distributes era first + 2 by hand (first + 1 can no longer be).
    await ddc.connect(f.bot).clusterDistributeRevenues(f.cluster, first + 2, [], "0x" + "ab".repeat(32));
    expect(await nextEra()).to.equal(first + 3);
    await report(first + 3);
    const run = await advanceCluster({ ...input, missed: catchUp });
    const reason = `distributed on chain without this bot (the core's next distribution era is ${first + 3})`;
    expect(run.skipped).to.deep.equal([
      { era: first + 1, reason },
      { era: first + 2, reason },
    ]);
    expect(run.decided.map((d) => d.era)).to.deep.equal([first + 3]);
    expect(store.era(cluster, first + 1)).to.deep.include({ status: "skipped", reason });
  });

  it("a stop between deciding and acting: the restart carries out the recorded decision, not a new one", async function () {
    const { ddc, store, input, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era);
    // The operator's transaction cannot be sent: its node went away.
    const away = new JsonRpcProvider("http://127.0.0.1:9", 31337, { staticNetwork: true });
    const broken = { ...input, routine: new OperatorExecutor({ bot: devAccount(12).connect(away) }) };
    await expect(decideAndAct({ ...broken, era, snapshotBlock: 1 })).to.be.rejectedWith(/ECONNREFUSED/);
    away.destroy();
    const recorded = store.era(input.cluster, era)!;
    expect(recorded).to.deep.include({ status: "decided", carried: false });
    expect(store.action(input.cluster, era, "distribution")).to.deep.include({ state: "decided" });
    // Restarted (later, with a new snapshot block), the bot finishes the recorded decision.
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.decided.map((d) => [d.era, d.hash])).to.deep.equal([[era, recorded.evidenceHash]]);
    const [event] = await ddc.queryFilter(ddc.filters.RevenuesDistributed(input.cluster));
    expect(event.args.evidenceHash).to.equal(recorded.evidenceHash);
    expect(JSON.parse(recorded.evidence!)).to.deep.include({ version: 2, era });
    expect(store.era(input.cluster, era)!.carried).to.equal(true);
  });

  it("an era an earlier bot recorded (evidence version 1, with its snapshot block) is carried out to its hash", async function () {
    const { ddc, store, input, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era);
    const v1 = decideEra({ ...(await snapshotNow(input, era, 7)), evidenceVersion: 1 });
    if (!v1.decided) throw new Error("undecided");
    expect(JSON.parse(v1.json)).to.deep.include({ version: 1, snapshotBlock: 7 });
    store.decideEra(input.cluster, era, v1.hash, v1.json);
    const run = await advanceCluster({ ...input, missed: catchUp });
    expect(run.decided.map((d) => [d.era, d.hash])).to.deep.equal([[era, v1.hash]]);
    const [event] = await ddc.queryFilter(ddc.filters.RevenuesDistributed(input.cluster));
    expect(event.args.evidenceHash).to.equal(v1.hash);
  });

  it("with its store deleted, the bot resumes after the chain's last distributed era and repeats nothing", async function () {
    const { ddc, input, report, lastClosed, nextEra } = await setup();
    const era = await lastClosed();
    await report(era);
    await advanceCluster({ ...input, missed: catchUp });
    const fresh = tempBotStore();
    const run = await advanceCluster({ ...input, store: fresh, missed: catchUp });
    expect(run).to.deep.equal({ cluster: input.cluster, decided: [], skipped: [] });
    expect(await ddc.queryFilter(ddc.filters.RevenuesDistributed(input.cluster))).to.have.length(1);
    expect(await nextEra()).to.equal(era + 1);
  });

  it("scores a replacement candidate by its QoS history in the bot's other clusters, and cites that evidence", async function () {
    const { f, store, input, report, lastClosed } = await setup();
    const era = await lastClosed();
    await report(era);
    const spare = Number(f.nodes[3]);
    // An era of another cluster the bot manages, in which the spare node scored 9,100 and 8,900.
    const other = (score: number, e: number, hash: string) =>
      store.decideEra(
        99,
        e,
        hash,
        JSON.stringify({
          aggregation: {
            scores: [
              { node: spare, score },
              { node: 500, score: 1 },
            ],
          },
        }),
      );
    other(9100, 1, "0x" + "aa".repeat(32));
    other(8900, 2, "0x" + "bb".repeat(32));
    const { decision } = await decideAndAct({ ...input, era, snapshotBlock: 0 });
    expect(decision.decided).to.equal(true);
    if (!decision.decided) return;
    const doc = decision.evidence as {
      candidates: { node: number; meanScore: number | null }[];
      previousEvidence: string[];
    };
    expect(doc.candidates.find((c) => c.node === spare)?.meanScore).to.equal(9000);
    expect(doc.previousEvidence).to.have.members(["0x" + "aa".repeat(32), "0x" + "bb".repeat(32)]);
  });

  it("knows the members as of an era's end: a replacement after it does not change whom the era scores", async function () {
    const { f, ddc, input, lastClosed } = await setup();
    const era = await lastClosed();
    const before = (await ddc.clusterNodes(f.cluster)).map(Number).sort((a, b) => a - b);
    expect(await input.chain.membersAt!(input.cluster, era)).to.deep.equal(before);
    // The manager replaces a member now, after the era's end.
    await setBalance(f.timelock, parseEther("1"));
    const timelock = await ethers.getImpersonatedSigner(f.timelock);
    const [gone, spare] = [f.nodes[1], f.nodes[3]];
    await ddc.connect(timelock).clusterReplaceNode(f.cluster, gone, [spare], ethers.ZeroHash);
    expect(await input.chain.membersAt!(input.cluster, era)).to.deep.equal(before);
    await time.increase(ERA);
    const after = before
      .filter((n) => n !== Number(gone))
      .concat(Number(spare))
      .sort((a, b) => a - b);
    expect(await input.chain.membersAt!(input.cluster, era + 1)).to.deep.equal(after);
  });
});
