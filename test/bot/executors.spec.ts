import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { createSafe } from "../../deploy/safe";
import { describe as describeAction, distribution, toProposal } from "../../governance/actions";
import { proposalState, proposeOnce } from "../../governance/dao";
import { packMultiSend } from "../../governance/decode";
import SafeApiKit from "@safe-global/api-kit";
import { createSignatureServer } from "../../governance/safeServer";
import { SafeQueue, buildSafeTxData, signSafeTx, type SafeTxData } from "../../governance/safeStore";
import { TransactionServiceStore } from "../../governance/safeTxService";
import {
  adoptOpen,
  carryOut,
  GovernorExecutor,
  keep,
  OperatorExecutor,
  SafeExecutor,
  type ForeignAction,
  type Target,
} from "../../manager-bot/src/executors";
import { buildCluster, bySafe, daoClusterFixture, systemFixture } from "../helpers/system";
import { devAccount, tempBotStore, tempSignatureStore } from "../helpers/temp";

const EVIDENCE = { hash: ethers.id("era evidence"), json: "{}" };
const store = tempBotStore;
const wallet = (i: number) => devAccount(i, ethers.provider);
const now = async () => BigInt(await time.latest());
const proposalStateOf = async (f: { system: { governor: { state(id: bigint): Promise<bigint> } } }, id: bigint) =>
  proposalState(f.system.governor as never, id);

describe("manager bot: executors and the keeper", function () {
  describe("Governor", function () {
    async function eraToDistribute() {
      const f = await loadFixture(daoClusterFixture);
      await time.increase(86_400);
      await f.system.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
      const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
      const action = distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE.hash });
      const target: Target = new GovernorExecutor(f.system.governor, { bot: f.bot });
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

    it("a stranger's proposal under the decision's key is foreign: not adopted, not kept, reported; the bot proposes its own", async function () {
      const { f, action, created } = await eraToDistribute();
      const found: ForeignAction[] = [];
      const target = new GovernorExecutor(f.system.governor, { bot: f.bot, onForeign: (x) => found.push(x) });
      // A voter above the proposal threshold proposes a takeover under the bot's action key.
      const takeover = {
        ...action,
        calls: [
          {
            target: f.core,
            value: 0n,
            data: f.system.ddc.interface.encodeFunctionData("clusterProposeManager", [f.cluster, f.stranger.address]),
          },
        ],
      };
      const planted = toProposal(takeover);
      await f.system.governor
        .connect(f.voters[1])
        .propose(planted.targets, planted.values, planted.calldatas, planted.description);
      const plantedId = await f.system.governor.hashProposal(
        planted.targets,
        planted.values,
        planted.calldatas,
        ethers.id(planted.description),
      );
      const before = await created();
      const s = store();
      const record = await carryOut(s, target, action, EVIDENCE);
      expect(record.state).to.equal("proposed");
      expect(record.ref).to.not.equal(plantedId.toString());
      expect(await created()).to.equal(before + 1);
      const shared = toProposal(action);
      expect(await f.system.governor.proposalProposer(BigInt(record.ref!))).to.equal(f.bot.address);
      expect(
        (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).at(-1)!.args.description,
      ).to.equal(shared.description);
      expect(found).to.deep.equal([
        {
          cluster: Number(f.cluster),
          era: Number(action.key.era),
          kind: "distribution",
          ref: plantedId.toString(),
          by: [f.voters[1].address],
          differences: [
            `proposed by ${f.voters[1].address}, not by the bot nor a replica`,
            "the call calls clusterProposeManager, the decision calls clusterDistributeRevenues",
          ],
        },
      ]);
      // A bot that lost its store adopts only its own proposal.
      const lost = store();
      expect((await adoptOpen(lost, target, Number(f.cluster))).map((a) => a.ref)).to.deep.equal([record.ref]);
      // Both pass: the keeper queues the bot's only.
      await time.increase(f.params.governance.votingDelay + 1);
      for (const v of f.voters) {
        await f.system.governor.connect(v).castVote(BigInt(record.ref!), 1);
        await f.system.governor.connect(v).castVote(plantedId, 1);
      }
      await time.increase(f.params.governance.votingPeriod);
      expect((await keep(s, target, now)).map((a) => [a.ref, a.state])).to.deep.equal([[record.ref, "queued"]]);
      expect(await proposalStateOf(f, plantedId)).to.equal("Succeeded");
    });

    it("a stranger who copies the bot's proposal first does not take it: the bot proposes the form only it may propose", async function () {
      const { f, action, created } = await eraToDistribute();
      const found: ForeignAction[] = [];
      const target = new GovernorExecutor(f.system.governor, { bot: f.bot, onForeign: (x) => found.push(x) });
      const shared = toProposal(action);
      // Seen in the mempool and sent first (the stranger could cancel it while it is pending).
      await f.system.governor
        .connect(f.voters[1])
        .propose(shared.targets, shared.values, shared.calldatas, shared.description);
      const copied = await f.system.governor.hashProposal(
        shared.targets,
        shared.values,
        shared.calldatas,
        ethers.id(shared.description),
      );
      const before = await created();
      const record = await carryOut(store(), target, action, EVIDENCE);
      const restricted = toProposal(action, f.bot.address);
      const own = await f.system.governor.hashProposal(
        restricted.targets,
        restricted.values,
        restricted.calldatas,
        ethers.id(restricted.description),
      );
      expect(record).to.deep.include({ state: "proposed", ref: own.toString() });
      expect(await created()).to.equal(before + 1);
      expect(found.map((x) => [x.ref, x.differences])).to.deep.equal([
        [copied.toString(), [`proposed by ${f.voters[1].address}, not by the bot nor a replica`]],
      ]);
    });

    it("two replicas racing on one decision make one proposal, adopt it both, and race the keeper without a failure", async function () {
      const { f, era, action, created } = await eraToDistribute();
      const [a, b] = [f.bot, f.voters[2]];
      const targetA = new GovernorExecutor(f.system.governor, { bot: a, replicas: [b.address] });
      const targetB = new GovernorExecutor(f.system.governor, { bot: b, replicas: [a.address] });
      const [sa, sb] = [store(), store()];
      const before = await created();
      const [ra, rb] = await Promise.all([
        carryOut(sa, targetA, action, EVIDENCE),
        carryOut(sb, targetB, action, EVIDENCE),
      ]);
      expect(await created()).to.equal(before + 1);
      expect([ra.state, rb.state]).to.deep.equal(["proposed", "proposed"]);
      expect(rb.ref).to.equal(ra.ref);
      await time.increase(f.params.governance.votingDelay + 1);
      for (const v of f.voters) await f.system.governor.connect(v).castVote(BigInt(ra.ref!), 1);
      await time.increase(f.params.governance.votingPeriod);
      const errors: unknown[] = [];
      const onError = (_: unknown, e: unknown) => errors.push(e);
      const queued = await Promise.all([keep(sa, targetA, now, { onError }), keep(sb, targetB, now, { onError })]);
      expect(queued.map((m) => m.map((x) => x.state))).to.deep.equal([["queued"], ["queued"]]);
      await time.increase(f.params.governance.timelockDelay);
      const executed = await Promise.all([keep(sa, targetA, now, { onError }), keep(sb, targetB, now, { onError })]);
      expect(executed.map((m) => m.map((x) => x.state))).to.deep.equal([["executed"], ["executed"]]);
      expect(errors).to.deep.equal([]);
      expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(era + 1n);
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
      const operator: Target = new OperatorExecutor({ bot: f.bot });
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
      const targetFor = (i: number): Target =>
        new SafeExecutor(queue, Number(chainId), f.system.safe.MultiSendCallOnly, { bot: wallet(i) });
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

    it("through api-kit and the signature server: the bot proposes, an owner confirms as Safe{Wallet} does, the keeper executes", async function () {
      const { f, era, action, chainId, safe, cluster } = await loadFixture(safeCluster);
      const backing = tempSignatureStore();
      const server = createSignatureServer({
        store: backing,
        queueFor: (address) => new SafeQueue(ethers.provider, chainId, address, backing),
      });
      const url = await server.listen({ host: "127.0.0.1", port: 0 });
      try {
        const queue = new SafeQueue(ethers.provider, chainId, safe, new TransactionServiceStore(chainId, `${url}/api`));
        const bot = new SafeExecutor(queue, chainId, f.system.safe.MultiSendCallOnly, { bot: wallet(1) });
        const s = store();
        const first = await carryOut(s, bot, action, EVIDENCE);
        expect(first.state).to.equal("awaiting-signatures");
        // What an owner's wallet sees: the bot's transaction, pending, with the bot's confirmation.
        const api = new SafeApiKit({ chainId: BigInt(chainId), txServiceUrl: `${url}/api` });
        const pending = await api.getPendingTransactions(safe);
        expect(pending.results.map((t) => [t.safeTxHash, t.confirmations?.map((c) => c.owner)])).to.deep.equal([
          [first.ref, [wallet(1).address]],
        ]);
        expect(pending.results[0].origin).to.match(/^# Distribute/);
        const entry = await queue.entry(first.ref!);
        await api.confirmTransaction(first.ref!, await signSafeTx(wallet(3), chainId, safe, entry.data));
        expect((await keep(s, bot, now)).map((x) => x.state)).to.deep.equal(["executed"]);
        expect((await f.system.ddc.clusterRevenue(cluster)).nextEra).to.equal(era + 1n);
        const executed = await api.getTransaction(first.ref!);
        expect([executed.isExecuted, executed.transactionHash]).to.deep.equal([
          true,
          (await queue.execution(first.ref!))!.transactionHash,
        ]);
        // A second bot reading the server's directory itself finds it executed, not made again.
        const other = new SafeExecutor(
          new SafeQueue(ethers.provider, chainId, safe, backing),
          chainId,
          f.system.safe.MultiSendCallOnly,
          {
            bot: wallet(2),
          },
        );
        expect(await carryOut(store(), other, action, EVIDENCE)).to.deep.include({ state: "executed", ref: first.ref });
      } finally {
        await server.close();
      }
    });

    it("a transaction under its key that is not its decision is foreign: not signed, reported, and the bot proposes its own", async function () {
      const { action, chainId, safe, f, cluster } = await loadFixture(safeCluster);
      const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
      const calls = action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value }));
      const honest = await buildSafeTxData(f.safeConnection(safe), wallet(1).privateKey, calls, 0);
      const core = await f.system.ddc.getAddress();
      const takeover = f.system.ddc.interface.encodeFunctionData("clusterProposeManager", [
        cluster,
        f.stranger.address,
      ]);
      const cases: { name: string; change: Partial<SafeTxData>; differences: string[] }[] = [
        {
          name: "another call",
          change: { to: core, data: takeover },
          differences: ["the call calls clusterProposeManager, the decision calls clusterDistributeRevenues"],
        },
        {
          name: "a foreign delegatecall",
          change: { to: f.system.safe.MultiSend, operation: 1 as const, data: packMultiSend(calls) },
          differences: [
            `a delegatecall to ${f.system.safe.MultiSend}, which is not the canonical MultiSendCallOnly ` +
              `(it is ${f.system.safe.MultiSendCallOnly}): it runs that contract's code with the Safe's own storage ` +
              "and funds, and can take over the Safe",
            "0 call(s), the decision makes 1",
          ],
        },
        {
          name: "a gas refund",
          change: { refundReceiver: f.stranger.address },
          differences: [
            `a gas refund: refundReceiver is ${f.stranger.address}, not the zero address (the Safe would pay it out of its own funds)`,
          ],
        },
        { name: "a value", change: { value: "1" }, differences: ["the call sends 1 wei, the decision's 0"] },
      ];
      for (const { name, change, differences } of cases) {
        // One owner (careless, or with a stolen key) stores it under the decision's action key.
        const planted = await queue.propose(
          { ...honest, ...change, nonce: await queue.onChainNonce() },
          describeAction(action),
          wallet(3),
        );
        const found: ForeignAction[] = [];
        const target = new SafeExecutor(queue, chainId, f.system.safe.MultiSendCallOnly, {
          bot: wallet(1),
          onForeign: (x) => found.push(x),
        });
        const record = await carryOut(store(), target, action, EVIDENCE);
        expect(record.state, name).to.equal("awaiting-signatures");
        expect(record.ref, name).to.not.equal(planted.safeTxHash);
        expect(
          found.find((x) => x.ref === planted.safeTxHash),
          name,
        ).to.deep.equal({
          cluster: Number(cluster),
          era: Number(action.key.era),
          kind: "distribution",
          ref: planted.safeTxHash,
          by: [wallet(3).address],
          differences,
        });
        expect((await queue.entry(planted.safeTxHash)).confirmations, name).to.deep.equal([wallet(3).address]);
        const own = await queue.entry(record.ref!);
        expect([own.data.to, own.data.operation, own.data.data], name).to.deep.equal([core, 0, action.calls[0].data]);
        expect(own.confirmations, name).to.deep.equal([wallet(1).address]);
        // Even with a second owner's signature on it, the keeper executes only the decision.
        await queue.addSignature(
          planted.safeTxHash,
          wallet(2).address,
          await signSafeTx(wallet(2), chainId, safe, planted.data),
        );
        const forged = store();
        const [c, e] = [Number(cluster), Number(action.key.era)];
        forged.decide({
          cluster: c,
          era: e,
          kind: "distribution",
          executor: "safe",
          evidenceHash: EVIDENCE.hash,
          evidence: null,
          calls: action.calls,
        });
        forged.advance(c, e, "distribution", "awaiting-signatures", planted.safeTxHash);
        await expect(keep(forged, target, now), name).to.be.rejectedWith(
          `the bot does not execute the Safe transaction ${planted.safeTxHash} of Safe ${safe}: ${differences.join("; ")}.`,
        );
        expect(await queue.wasExecuted(planted.safeTxHash), name).to.equal(false);
        // The owners reject the planted nonce: the next case starts from the next nonce.
        const rejection = await queue.proposeRejection(planted.data.nonce, wallet(2));
        await queue.addSignature(
          rejection.safeTxHash,
          wallet(3).address,
          await signSafeTx(wallet(3), chainId, safe, rejection.data),
        );
        await queue.executeWith(f.stranger, rejection.safeTxHash);
      }
    });

    it("a bot that is not an owner is refused before anything is stored", async function () {
      const { f, action, chainId, safe } = await loadFixture(safeCluster);
      // Its own signature store (the fixture's directory outlives the chain's snapshots).
      const queue = new SafeQueue(ethers.provider, chainId, safe, tempSignatureStore());
      const s = store();
      const notOwner = new SafeExecutor(queue, chainId, f.system.safe.MultiSendCallOnly, { bot: wallet(12) });
      await expect(carryOut(s, notOwner, action, EVIDENCE)).to.be.rejectedWith(
        `the bot's key ${wallet(12).address} is not an owner of the Safe ${queue.safe}: it cannot propose to it`,
      );
      expect(await queue.list()).to.deep.equal([]);
      expect(s.open().map((a) => a.state)).to.deep.equal(["decided"]);
    });
  });
});
