import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { createSafe } from "../../deploy/safe";
import { describe as describeAction, distribution, toProposal } from "../../governance/actions";
import { proposeOnce } from "../../governance/dao";
import { packMultiSend } from "../../governance/decode";
import { SafeQueue, buildSafeTxData, signSafeTx } from "../../governance/safeStore";
import { carryOut, keep, type Target } from "../../manager-bot/src/executors";
import { buildCluster, bySafe, daoClusterFixture, systemFixture } from "../helpers/system";
import { devAccount, tempBotStore, tempSignatureStore } from "../helpers/temp";

const EVIDENCE = { hash: ethers.id("era evidence"), json: "{}" };
const store = tempBotStore;
const wallet = (i: number) => devAccount(i, ethers.provider);
const now = async () => BigInt(await time.latest());

describe("manager bot: executors and the keeper", function () {
  describe("Governor", function () {
    async function eraToDistribute() {
      const f = await loadFixture(daoClusterFixture);
      await time.increase(86_400);
      await f.system.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
      const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
      const action = distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE.hash });
      const target: Target = { kind: "governor", governor: f.system.governor, bot: f.bot };
      const created = async () =>
        (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).length;
      return { f, era, action, target, created };
    }

    it("two bots on one cluster propose the decision once", async function () {
      const { action, target, created } = await eraToDistribute();
      const before = await created();
      const a = await carryOut(store(), target, action, EVIDENCE);
      const b = await carryOut(store(), target, action, EVIDENCE);
      expect(a.state).to.equal("proposed");
      expect(b).to.deep.include({ state: "proposed", ref: a.ref });
      expect((await created()) - before).to.equal(1);
    });

    it("a bot restarted between proposing and recording proposes nothing twice", async function () {
      const { f, action, target, created } = await eraToDistribute();
      const s = store();
      s.decide({
        cluster: Number(f.cluster),
        era: Number(action.key.era),
        kind: "distribution",
        executor: "governor",
        evidenceHash: EVIDENCE.hash,
        evidence: "{}",
      });
      // It proposed, then died before writing it down.
      const { id } = await proposeOnce(f.system.governor.connect(f.bot), toProposal(action, f.bot.address));
      const before = await created();
      const resumed = await carryOut(s, target, action, EVIDENCE);
      expect(resumed).to.deep.include({ state: "proposed", ref: id.toString() });
      expect(await created()).to.equal(before);
      // And a second call is answered from the store alone.
      expect(await carryOut(s, target, action, EVIDENCE)).to.deep.equal(resumed);
    });

    it("keeps the proposal moving: queued once passed, executed after the Timelock's delay", async function () {
      const { f, era, action, target } = await eraToDistribute();
      const s = store();
      const { ref } = await carryOut(s, target, action, EVIDENCE);
      expect(await keep(s, target, now)).to.deep.equal([]);
      await time.increase(f.params.governance.votingDelay + 1);
      for (const v of f.voters) await f.system.governor.connect(v).castVote(BigInt(ref!), 1);
      await time.increase(f.params.governance.votingPeriod);
      expect((await keep(s, target, now)).map((a) => a.state)).to.deep.equal(["queued"]);
      expect(await keep(s, target, now)).to.deep.equal([]);
      await time.increase(f.params.governance.timelockDelay);
      expect((await keep(s, target, now)).map((a) => a.state)).to.deep.equal(["executed"]);
      expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(era + 1n);
      expect(s.open()).to.deep.equal([]);
    });

    it("keeps only its cluster's actions, and records as failed a proposal whose execution reverts", async function () {
      const { f, era, action, target } = await eraToDistribute();
      const s = store();
      const { ref } = await carryOut(s, target, action, EVIDENCE);
      await time.increase(f.params.governance.votingDelay + 1);
      for (const v of f.voters) await f.system.governor.connect(v).castVote(BigInt(ref!), 1);
      await time.increase(f.params.governance.votingPeriod);
      // Another cluster's keeper leaves it alone.
      expect(await keep(s, target, now, { cluster: Number(f.cluster) + 1 })).to.deep.equal([]);
      expect((await keep(s, target, now, { cluster: Number(f.cluster) })).map((a) => a.state)).to.deep.equal([
        "queued",
      ]);
      // Meanwhile the operator distributes the era: the queued proposal can no longer execute.
      await f.system.ddc.connect(f.bot).clusterDistributeRevenues(f.cluster, era, [], EVIDENCE.hash);
      await time.increase(f.params.governance.timelockDelay);
      await expect(keep(s, target, now)).to.be.rejectedWith(/ClusterEraAlreadyDistributed/);
      const errors: string[] = [];
      const moved = await keep(s, target, now, {
        onError: (a, e) => errors.push(`${a.kind}: ${(e as Error).message}`),
      });
      expect(moved.map((a) => a.state)).to.deep.equal(["failed"]);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.match(/^distribution: .*ClusterEraAlreadyDistributed/);
      expect(s.open()).to.deep.equal([]);
    });

    it("an operator's distribution of an era distributed already is recorded as done; a reverting one as failed", async function () {
      const { f, era, action } = await eraToDistribute();
      const operator: Target = { kind: "operator", bot: f.bot };
      await f.system.ddc.connect(f.bot).clusterDistributeRevenues(f.cluster, era, [], ethers.id("another decision"));
      const s = store();
      expect(await carryOut(s, operator, action, EVIDENCE)).to.deep.include({ state: "executed", ref: null });
      // A call that reverts (here: the next era, not closed yet) is recorded as failed, not retried forever.
      const next = distribution(f.core, {
        cluster: f.cluster,
        era: era + 1n,
        ineligible: [],
        evidenceHash: EVIDENCE.hash,
      });
      expect(await carryOut(s, operator, next, EVIDENCE)).to.deep.include({ state: "failed" });
    });

    it("records a defeated proposal as such", async function () {
      const { f, action, target } = await eraToDistribute();
      const s = store();
      const { ref } = await carryOut(s, target, action, EVIDENCE);
      await time.increase(f.params.governance.votingDelay + 1);
      for (const v of f.voters) await f.system.governor.connect(v).castVote(BigInt(ref!), 0);
      await time.increase(f.params.governance.votingPeriod);
      expect((await keep(s, target, now)).map((a) => a.state)).to.deep.equal(["defeated"]);
    });
  });

  describe("Safe", function () {
    async function safeCluster() {
      const f = await systemFixture();
      const safe = await createSafe(
        f.deployer,
        f.system.safe,
        f.guardians.map((g) => g.address),
        2,
        11n,
      );
      const built = await buildCluster(f, [safe]);
      const ddc = f.system.ddc;
      const core = await ddc.getAddress();
      await ddc.connect(f.manager).clusterProposeManager(built.cluster, safe);
      await bySafe(f, safe, [
        { to: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [built.cluster]) },
      ]);
      await time.increase(86_400);
      await ddc.bucketSettlePayment(built.cluster, [built.bucket]);
      const era = (await ddc.clusterEra(built.cluster)).era - 1n;
      const { chainId } = await ethers.provider.getNetwork();
      const signatures = tempSignatureStore();
      const queue = new SafeQueue(ethers.provider, Number(chainId), safe, signatures);
      const targetFor = (i: number): Target => ({
        kind: "safe",
        queue,
        connection: f.safeConnection(safe),
        bot: wallet(i),
        botKey: wallet(i).privateKey,
        chainId: Number(chainId),
      });
      const action = distribution(core, { cluster: built.cluster, era, ineligible: [], evidenceHash: EVIDENCE.hash });
      return { f, era, queue, targetFor, action, chainId: Number(chainId), safe, cluster: built.cluster };
    }

    it("signs as one owner and publishes; a second bot finds it by action key; executes at the threshold", async function () {
      const { f, era, queue, targetFor, action, chainId, safe, cluster } = await loadFixture(safeCluster);
      const a = store();
      const first = await carryOut(a, targetFor(1), action, EVIDENCE);
      expect(first.state).to.equal("awaiting-signatures");
      const second = await carryOut(store(), targetFor(2), action, EVIDENCE);
      expect(second).to.deep.include({ state: "awaiting-signatures", ref: first.ref });
      expect(await queue.list()).to.have.length(1);
      expect(await keep(a, targetFor(1), now)).to.deep.equal([]);
      // Another owner signs (from the Safe app, or `ddc safe sign`): the keeper executes.
      const entry = await queue.entry(first.ref!);
      await queue.addSignature(first.ref!, wallet(3).address, await signSafeTx(wallet(3), chainId, safe, entry.data));
      expect((await keep(a, targetFor(1), now)).map((x) => x.state)).to.deep.equal(["executed"]);
      expect((await f.system.ddc.clusterRevenue(cluster)).nextEra).to.equal(era + 1n);
      // A store that forgot (lost, or another bot's): the executed transaction is found, not made again.
      const forgetful = store();
      expect(await carryOut(forgetful, targetFor(2), action, EVIDENCE)).to.deep.include({
        state: "executed",
        ref: first.ref,
      });
      expect(await queue.list()).to.have.length(1);
    });

    it("a transaction stored before the bot could sign it (a stop in between) gets its signature on resume", async function () {
      const { targetFor, action, chainId, safe, f } = await loadFixture(safeCluster);
      const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
      const target = { ...targetFor(1), queue } as Target & { kind: "safe" };
      const data = await buildSafeTxData(
        f.safeConnection(safe),
        wallet(1).privateKey,
        action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value })),
        await queue.nextNonce(),
      );
      const stored = await queue.propose(data, describeAction(action));
      expect((await queue.entry(stored.safeTxHash)).confirmations).to.deep.equal([]);
      const record = await carryOut(store(), target, action, EVIDENCE);
      expect(record).to.deep.include({ state: "awaiting-signatures", ref: stored.safeTxHash });
      expect((await queue.entry(stored.safeTxHash)).confirmations).to.deep.equal([wallet(1).address]);
      expect(await queue.list()).to.have.length(1);
    });

    it("does not sign a transaction stored under its action key that the Safe rule refuses: a foreign delegatecall, a gas refund", async function () {
      const { targetFor, action, chainId, safe, f } = await loadFixture(safeCluster);
      const calls = action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value }));
      const takeover =
        "which is not the canonical MultiSendCallOnly " +
        `(it is ${f.system.safe.MultiSendCallOnly}): it runs that contract's code with the Safe's own storage ` +
        "and funds, and can take over the Safe";
      const cases = [
        {
          change: { to: f.system.safe.MultiSend, operation: 1 as const, data: packMultiSend(calls) },
          problem: `a delegatecall to ${f.system.safe.MultiSend}, ${takeover}`,
        },
        {
          change: { refundReceiver: f.stranger.address },
          problem: `a gas refund: refundReceiver is ${f.stranger.address}, not the zero address (the Safe would pay it out of its own funds)`,
        },
      ];
      for (const { change, problem } of cases) {
        // Anyone who writes to the shared store can put a transaction there under the action's key.
        const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
        const honest = await buildSafeTxData(
          f.safeConnection(safe),
          wallet(1).privateKey,
          calls,
          await queue.nextNonce(),
        );
        const stored = await queue.propose({ ...honest, ...change }, describeAction(action));
        const s = store();
        await expect(carryOut(s, { ...targetFor(1), queue } as Target, action, EVIDENCE)).to.be.rejectedWith(
          `the bot does not sign the Safe transaction ${stored.safeTxHash} of Safe ${safe}: ${problem}. ` +
            `Nobody should: reject its nonce ${honest.nonce} (\`ddc safe reject ${safe} ${honest.nonce}\`), ` +
            "and the bot proposes the action again",
        );
        expect((await queue.entry(stored.safeTxHash)).confirmations).to.deep.equal([]);
        expect(s.open().map((a) => a.state)).to.deep.equal(["decided"]);
      }
    });

    it("does not execute a transaction the Safe rule refuses, whoever signed it", async function () {
      const { targetFor, action, chainId, safe, f } = await loadFixture(safeCluster);
      const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
      const target = { ...targetFor(1), queue } as Target & { kind: "safe" };
      const calls = action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value }));
      const honest = await buildSafeTxData(
        f.safeConnection(safe),
        wallet(1).privateKey,
        calls,
        await queue.nextNonce(),
      );
      const stored = await queue.propose({ ...honest, gasPrice: "1" }, describeAction(action));
      // Two other owners signed it elsewhere: the bot adopts the action as awaiting signatures...
      for (const i of [2, 3]) {
        await queue.addSignature(
          stored.safeTxHash,
          wallet(i).address,
          await signSafeTx(wallet(i), chainId, safe, stored.data),
        );
      }
      const s = store();
      expect(await carryOut(s, target, action, EVIDENCE)).to.deep.include({
        state: "awaiting-signatures",
        ref: stored.safeTxHash,
      });
      expect((await queue.entry(stored.safeTxHash)).status).to.equal("executable");
      // ...and its keeper refuses to execute it.
      await expect(keep(s, target, now)).to.be.rejectedWith(
        `the bot does not execute the Safe transaction ${stored.safeTxHash} of Safe ${safe}: ` +
          "a gas refund: gasPrice is 1, not 0 (the Safe would pay it out of its own funds)",
      );
      expect(await queue.wasExecuted(stored.safeTxHash)).to.equal(false);
      expect((await queue.entry(stored.safeTxHash)).status).to.equal("executable");
    });

    it("a bot that is not an owner is refused before anything is stored", async function () {
      const { targetFor, action, chainId, safe } = await loadFixture(safeCluster);
      // Its own signature store (the fixture's directory outlives the chain's snapshots).
      const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
      const s = store();
      await expect(carryOut(s, { ...targetFor(12), queue } as Target, action, EVIDENCE)).to.be.rejectedWith(
        `the bot's key ${wallet(12).address} is not an owner of the Safe ${queue.safe}: it cannot propose to it`,
      );
      expect(await queue.list()).to.deep.equal([]);
      expect(s.open().map((a) => a.state)).to.deep.equal(["decided"]);
    });
  });
});
