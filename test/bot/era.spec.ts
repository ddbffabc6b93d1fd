import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet } from "ethers";
import { decideAndAct, readCluster } from "../../manager-bot/src/bot";
import { coreChainView } from "../../manager-bot/src/chain";
import { GovernorExecutor, keep, OperatorExecutor, SafeExecutor, type Target } from "../../manager-bot/src/executors";
import { ReportIntake } from "../../manager-bot/src/intake";
import { signReport } from "../../manager-bot/src/report";
import { verifyEvidence } from "../../manager-bot/src/verify";
import { buildCluster, bySafe, daoCluster, systemFixture } from "../helpers/system";
import { createSafe } from "../../deploy/safe";
import { DDCLens__factory } from "../../typechain-types";
import { decodeCall } from "../../governance/decode";
import { SafeQueue, signSafeTx } from "../../governance/safeStore";
import { reportBody } from "../helpers/reports";
import { devAccount, tempBotStore, tempSignatureStore } from "../helpers/temp";

const wallet = (i: number) => devAccount(i, ethers.provider);
const validators = [71, 72, 73].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

async function fixture() {
  return daoCluster(validators.map((v) => v.address));
}

describe("manager bot: a full era on a DAO-managed cluster", function () {
  it("reports → decision → distribution by the operator and a replacement proposal → votes → executed", async function () {
    const f = await loadFixture(fixture);
    const ddc = f.system.ddc;
    const { chainId } = await ethers.provider.getNetwork();
    const chain = coreChainView(ddc, ethers.provider, Number(chainId));
    const store = tempBotStore();
    const intake = new ReportIntake(chain, store);
    // The owner lets usage bill up to 20 units; a day of rent accrues (the bot settles it).
    await ddc.connect(f.owner).bucketSetCap(f.bucket, 20n);
    await time.increase(86_400);
    const lens = DDCLens__factory.connect(f.system.contracts.DDCLens, ethers.provider);
    const era = Number((await ddc.clusterEra(f.cluster)).era) - 1;
    const [failing, spare] = [f.nodes[1], f.nodes[3]];
    const members = await ddc.clusterNodes(f.cluster);
    for (const v of validators) {
      const report = await signReport(
        v,
        Number(chainId),
        f.core,
        reportBody(f.cluster, era, members, (n) => (n === Number(failing) ? { retrievable: false } : {}), [
          { bucket: Number(f.bucket), measuredBytes: (12n << 30n).toString() },
        ]),
      );
      expect((await intake.submit(report, "test")).status).to.equal("accepted");
    }
    const routine: Target = new OperatorExecutor({ bot: f.bot });
    const structural: Target = new GovernorExecutor(f.system.governor, { bot: f.bot });
    const run = () =>
      decideAndAct({
        ddc,
        chain,
        store,
        cluster: Number(f.cluster),
        era,
        snapshotBlock: 0,
        policy: { failingEras: 1, maxPerEra: 1 },
        routine,
        structural,
        lens,
        settlement: { minimum: 1n },
      });
    const { decision, records } = await run();
    expect(decision.decided).to.equal(true);
    if (!decision.decided) return;
    expect(decision.planned).to.deep.equal([
      { kind: "usage-report", buckets: [Number(f.bucket)], measuredUnits: ["12"] },
      { kind: "distribution", ineligible: [Number(failing)] },
      { kind: "replace-node", node: Number(failing), replacements: [Number(spare)] },
    ]);
    expect(records.map((r) => [r.kind, r.state])).to.deep.equal([
      ["settlement", "executed"],
      ["usage-report", "executed"],
      ["distribution", "executed"],
      ["replace-node", "proposed"],
    ]);
    // Routine work is done: usage billed, revenue distributed, the failing node's share in the reserve.
    expect((await ddc.getBucket(f.bucket)).billed).to.equal(12n);
    expect((await ddc.clusterRevenue(f.cluster)).nextEra).to.equal(BigInt(era + 1));
    expect((await ddc.clusterRevenue(f.cluster)).reserve).to.be.greaterThan(0n);
    expect(await ddc.nodeRevenue(failing)).to.equal(0n);
    // Running the bot again for the same era carries out the recorded decision: nothing is sent twice.
    const proposals = async () =>
      (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).length;
    const before = await proposals();
    const again = await run();
    expect(again.decision.decided && again.decision.hash).to.equal(decision.hash);
    expect(again.records.map((r) => [r.kind, r.state, r.ref])).to.deep.equal(
      records.map((r) => [r.kind, r.state, r.ref]),
    );
    expect(await proposals()).to.equal(before);
    // The voters check the proposal against the evidence, and pass it; the keeper does the rest.
    const proposalId = BigInt(records[3].ref!);
    const created = (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).find(
      (e) => e.args.proposalId === proposalId,
    )!;
    const onChain = created.args.targets.map((target, i) => ({
      target,
      data: created.args.calldatas[i],
      value: created.args[3][i], // `values` by index: the name is also an Array method
    }));
    const checked = await verifyEvidence(JSON.parse(decision.json), onChain, chain);
    expect(checked.filter((l) => !l.ok)).to.deep.equal([]);
    await time.increase(f.params.governance.votingDelay + 1);
    for (const v of f.voters) await f.system.governor.connect(v).castVote(proposalId, 1);
    await time.increase(f.params.governance.votingPeriod);
    const now = async () => BigInt(await time.latest());
    expect((await keep(store, structural, now)).map((a) => a.state)).to.deep.equal(["queued"]);
    await time.increase(f.params.governance.timelockDelay);
    expect((await keep(store, structural, now)).map((a) => a.state)).to.deep.equal(["executed"]);
    const [tokens, holders] = await ddc.clusterRing(f.cluster);
    expect(holders[tokens.indexOf(failing << 40n)]).to.equal(spare);
    expect(store.open()).to.deep.equal([]);
    store.close();
  });

  it("on a Safe-managed cluster: the replacement waits for a second owner, then the keeper executes it", async function () {
    const f = await systemFixture();
    const safe = await createSafe(
      f.deployer,
      f.system.safe,
      f.guardians.map((g) => g.address),
      2,
      21n,
    );
    const built = await buildCluster(f, [safe]);
    const ddc = f.system.ddc;
    const core = await ddc.getAddress();
    await ddc.connect(f.manager).clusterProposeManager(built.cluster, safe);
    const bot = wallet(1); // the bot's key is one of the Safe's owners, and its operator
    // The Safe accepts, names the bot its operator and names its validators (a handover clears both).
    await bySafe(f, safe, [
      { to: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [built.cluster]) },
      { to: core, data: ddc.interface.encodeFunctionData("clusterSetOperator", [built.cluster, bot.address, true]) },
      ...validators.map((v) => ({
        to: core,
        data: ddc.interface.encodeFunctionData("clusterSetValidator", [built.cluster, v.address, true]),
      })),
    ]);
    await time.increase(86_400);
    await ddc.bucketSettlePayment(built.cluster, [built.bucket]);
    const { chainId } = await ethers.provider.getNetwork();
    const chain = coreChainView(ddc, ethers.provider, Number(chainId));
    const store = tempBotStore();
    const era = Number((await ddc.clusterEra(built.cluster)).era) - 1;
    const [failing, spare] = [built.nodes[1], built.nodes[3]];
    const members = await ddc.clusterNodes(built.cluster);
    for (const v of validators) {
      const report = await signReport(
        v,
        Number(chainId),
        core,
        reportBody(built.cluster, era, members, (n) => (n === Number(failing) ? { score: 4000 } : {})),
      );
      await new ReportIntake(chain, store).submit(report, "test");
    }
    const queue = new SafeQueue(ethers.provider, Number(chainId), safe, tempSignatureStore());
    const structural: Target = new SafeExecutor(queue, Number(chainId), f.system.safe.MultiSendCallOnly, { bot });
    const { records } = await decideAndAct({
      ddc,
      chain,
      store,
      cluster: Number(built.cluster),
      era,
      snapshotBlock: 0,
      policy: { failingEras: 1, maxPerEra: 1 },
      routine: new OperatorExecutor({ bot }),
      structural,
    });
    expect(records.map((r) => [r.kind, r.state])).to.deep.equal([
      ["distribution", "executed"],
      ["replace-node", "awaiting-signatures"],
    ]);
    const now = async () => BigInt(await time.latest());
    expect(await keep(store, structural, now)).to.deep.equal([]);
    // A second owner checks the transaction and signs it.
    const entry = await queue.entry(records[1].ref!);
    expect(decodeCall({ ...entry.data, value: 0n }).text).to.equal(
      `DDCCore.clusterReplaceNode(cluster=${built.cluster}, node=${failing}, replacements=[${spare}], evidenceHash=${entry.description!.match(/Evidence: (0x[0-9a-f]{64})/)![1]})`,
    );
    await queue.addSignature(
      entry.safeTxHash,
      wallet(2).address,
      await signSafeTx(wallet(2), Number(chainId), safe, entry.data),
    );
    expect((await keep(store, structural, now)).map((a) => a.state)).to.deep.equal(["executed"]);
    expect([...(await ddc.clusterNodes(built.cluster))].sort()).to.deep.equal(
      [built.nodes[0], built.nodes[2], spare].sort(),
    );
    store.close();
  });

  it("reads a cluster through the lens in a few calls, as it reads it view by view", async function () {
    const f = await loadFixture(fixture);
    const lens = DDCLens__factory.connect(f.system.contracts.DDCLens, ethers.provider);
    // One more candidate that does not trust the Timelock, and a deregistered node.
    await f.system.ddc
      .connect(f.stranger)
      .nodeCreate(ethers.Wallet.createRandom().address, 50n, 1n, { engine: "e", version: "v", urls: [], metadata: "" });
    await f.system.ddc
      .connect(f.stranger)
      .nodeCreate(ethers.Wallet.createRandom().address, 50n, 1n, { engine: "e", version: "v", urls: [], metadata: "" });
    await f.system.ddc.connect(f.stranger).nodeRemove(await f.system.ddc.nodeCount());
    const byViews = await readCluster(f.system.ddc, Number(f.cluster));
    const byLens = await readCluster(f.system.ddc, Number(f.cluster), lens);
    const free = (c: { capacity: bigint; reserved: bigint }) => c.capacity - c.reserved;
    expect(byLens.members).to.deep.equal(byViews.members);
    expect(byLens.params).to.deep.equal(byViews.params);
    expect(byLens.candidates.map((c) => [c.node, c.trustsManager, free(c)])).to.deep.equal(
      byViews.candidates.map((c) => [c.node, c.trustsManager, free(c)]),
    );
    expect(byLens.candidates.map((c) => [c.node, c.trustsManager])).to.deep.equal([
      [Number(f.nodes[3]), true],
      [Number(f.nodes[3]) + 1, false],
    ]);
  });

  it("an era without ⌈2n/3⌉ reports is not decided: the bot names the missing validators", async function () {
    const f = await loadFixture(fixture);
    const ddc = f.system.ddc;
    const { chainId } = await ethers.provider.getNetwork();
    const chain = coreChainView(ddc, ethers.provider, Number(chainId));
    const store = tempBotStore();
    await time.increase(3600);
    const era = Number((await ddc.clusterEra(f.cluster)).era) - 1;
    const members = await ddc.clusterNodes(f.cluster);
    const report = await signReport(validators[0], Number(chainId), f.core, reportBody(f.cluster, era, members));
    await new ReportIntake(chain, store).submit(report, "test");
    const target: Target = new OperatorExecutor({ bot: f.bot });
    const { decision, records } = await decideAndAct({
      ddc,
      chain,
      store,
      cluster: Number(f.cluster),
      era,
      snapshotBlock: 0,
      policy: { failingEras: 1, maxPerEra: 1 },
      routine: target,
      structural: target,
    });
    expect(records).to.deep.equal([]);
    expect(decision).to.deep.equal({
      decided: false,
      aggregation: {
        decided: false,
        have: 1,
        need: 2,
        validators: 3,
        missing: [validators[1].address, validators[2].address].sort(),
      },
    });
    store.close();
  });
});
