import { expect } from "chai";
import { GovernorExecutor, OperatorExecutor } from "../../manager-bot/src/executors";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { ContractFactory, Wallet, getAddress } from "ethers";
import { describe as describeAction, parseEvidence, parseEvidenceUrl, toProposal } from "../../governance/actions";
import { passProposal } from "../helpers/system";
import { proposeOnce } from "../../governance/dao";
import { packMultiSend } from "../../governance/multiSend";
import { buildSafeTxData } from "../../governance/safeStore";
import { createSafe, safeArtifact } from "../../deploy/safe";
import { IDDC__factory } from "../../typechain-types";
import { readCluster, snapshotNow, type EraInput } from "../../manager-bot/src/bot";
import { coreChainView } from "../../manager-bot/src/chain";
import {
  buildActions,
  decideEra,
  snapshotOf,
  type EraDecision,
  type EraSnapshot,
  type PlannedAction,
} from "../../manager-bot/src/decide";
import { evidenceHash } from "../../manager-bot/src/evidence";
import { ReportIntake } from "../../manager-bot/src/intake";
import { reportDigest, signReport, type ReportBody, type SignedReport } from "../../manager-bot/src/report";
import type { BotStore } from "../../manager-bot/src/store";
import {
  safeTxCalls,
  transactionCalls,
  verifyEvidence,
  type EraContext,
  type OnChainCall,
  type VerifyLine,
} from "../../manager-bot/src/verify";
import { CLUSTER_PARAMS } from "../helpers/fixtures";
import { reportBody } from "../helpers/reports";
import { daoCluster } from "../helpers/system";
import { tempBotStore } from "../helpers/temp";

const validators = [1, 2, 3].map((i) => new Wallet("0x" + String(i + 40).padStart(64, "0")));
/** Keys an operator could name as validators in its own evidence: not the chain's. */
const impostors = [1, 2, 3].map((i) => new Wallet("0x" + String(i + 50).padStart(64, "0")));
const GIB = 1n << 30n;

/** Era 4 of cluster 1 on `core`: node 2 failed its third era in a row, bucket 1 stored 2.5 GiB. */
async function snapshot(core: string, chainId: number): Promise<EraSnapshot> {
  const body = (node2: number): ReportBody =>
    reportBody(1, 4, [1, 2, 3], (node) => ({ latencyMs: 30, score: node === 2 ? node2 : 9800 }), [
      { bucket: 1, measuredBytes: ((5n * GIB) / 2n).toString() },
    ]);
  const reports = await Promise.all(validators.map((w, i) => signReport(w, chainId, core, body([100, 200, 9500][i]))));
  return {
    chainId,
    core,
    cluster: 1,
    era: 4,
    snapshotBlock: 123,
    validators: validators.map((w) => w.address),
    reports,
    members: [1, 2, 3].map((node) => ({ node, vNodes: 1, pendingReplacement: false })),
    history: { "1": [9800, 9800], "2": [100, 100], "3": [9800, 9800] },
    candidates: [{ node: 4, trustsManager: true, capacity: 1000n, reserved: 0n, meanScore: null }],
    params: { qosThreshold: 9000, unitSize: GIB, replicationFactor: 2, exclusionFactor: 2, reservedPerVNode: 100n },
    policy: { failingEras: 3, maxPerEra: 1 },
    previousEvidence: [ethers.id("era 3")],
  };
}

/** A chain that says what `s` says of its era (its end long past), and that `foreign` are another cluster's. */
function chainOf(s: EraSnapshot, foreign: number[] = []): EraContext {
  return {
    chainId: s.chainId,
    core: s.core,
    eraEnd: async () => 1000n,
    now: async () => 2000n,
    validatorsAt: async () => new Set(s.validators.map((v) => getAddress(v))),
    membersAt: async () => [...(s.scored ?? s.members.map((m) => m.node))].sort((a, b) => a - b),
    paramsAt: async () => ({
      qosThreshold: s.params.qosThreshold,
      replicationFactor: s.params.replicationFactor,
      unitSize: s.params.unitSize,
    }),
    foreignBuckets: async (_cluster, ids) => ids.filter((b) => foreign.includes(b)),
  };
}

const callsOf = (d: Extract<EraDecision, { decided: true }>): OnChainCall[] => d.actions.flatMap((a) => a.calls);
const failures = (lines: VerifyLine[]) => lines.filter((l) => !l.ok);

function decided(d: EraDecision): Extract<EraDecision, { decided: true }> {
  if (!d.decided) throw new Error("undecided");
  return d;
}

describe("manager bot: an era's decision, its evidence, and verify", function () {
  describe("the decision and its evidence (pure)", function () {
    it("decides usage, distribution and a replacement, each carrying the evidence hash", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const d = decided(decideEra(s));
      expect(d.planned).to.deep.equal([
        { kind: "usage-report", buckets: [1], measuredUnits: ["3"] },
        { kind: "distribution", ineligible: [2] },
        { kind: "replace-node", node: 2, replacements: [4] },
      ]);
      expect(d.actions.map((a) => a.evidenceHash)).to.deep.equal([d.hash, d.hash, d.hash]);
      expect(d.actions.map((a) => a.key)).to.deep.equal([
        { cluster: 1n, era: 4n, kind: "usage-report" },
        { cluster: 1n, era: 4n, kind: "distribution" },
        { cluster: 1n, era: 4n, kind: "replace-node" },
      ]);
      // The same snapshot decides the same, to the byte; the document round-trips through JSON.
      const again = decideEra(await snapshot(s.core, s.chainId));
      expect(again.decided && again.hash).to.equal(d.hash);
      expect(decided(decideEra(snapshotOf(JSON.parse(d.json)))).hash).to.equal(d.hash);
      expect(failures(await verifyEvidence(JSON.parse(d.json), callsOf(d), chainOf(s)))).to.deep.equal([]);
    });

    it("with a public base URL, each action names where its document is; the document and its hash stay the same", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const plain = decideEra(s);
      const published = decideEra(s, { evidenceBaseUrl: "https://bot.example/ddc/" });
      if (!plain.decided || !published.decided) throw new Error("undecided");
      expect(published.json).to.equal(plain.json);
      expect(published.hash).to.equal(plain.hash);
      const url = `https://bot.example/ddc/evidence/${plain.hash}`;
      expect(published.actions.map((a) => a.evidenceUrl)).to.deep.equal([url, url, url]);
      expect(plain.actions.map((a) => a.evidenceUrl)).to.deep.equal([undefined, undefined, undefined]);
      // The calls are the same; only the descriptions say more.
      expect(published.actions.map((a) => a.calls)).to.deep.equal(plain.actions.map((a) => a.calls));
      for (const a of published.actions) {
        const description = describeAction(a);
        expect(parseEvidenceUrl(description)).to.equal(url);
        expect(parseEvidence(description)).to.equal(plain.hash);
      }
      expect(parseEvidenceUrl(describeAction(plain.actions[0]))).to.equal(undefined);
    });

    it("two decisions of one era at different snapshot blocks write the same document (version 2, no snapshot block)", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const [a, b] = [
        decided(decideEra({ ...s, snapshotBlock: 123 })),
        decided(decideEra({ ...s, snapshotBlock: 124 })),
      ];
      expect(a.hash).to.equal(b.hash);
      expect(a.json).to.equal(b.json);
      const doc = JSON.parse(a.json) as Record<string, unknown>;
      expect(doc.version).to.equal(2);
      expect(doc).to.not.have.property("snapshotBlock");
      expect((doc.aggregation as { foreignBuckets: number[] }).foreignBuckets).to.deep.equal([]);
    });

    it("reads a version 1 document (with its snapshot block) and decides it again to its hash; verify reads 1 and 2 only", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const v1 = decided(decideEra({ ...s, evidenceVersion: 1 }));
      const doc = JSON.parse(v1.json) as Record<string, unknown>;
      expect([doc.version, doc.snapshotBlock]).to.deep.equal([1, 123]);
      expect(doc.aggregation).to.not.have.property("foreignBuckets");
      expect(snapshotOf(doc)).to.deep.include({ evidenceVersion: 1, snapshotBlock: 123 });
      expect(decided(decideEra(snapshotOf(doc))).hash).to.equal(v1.hash);
      expect(failures(await verifyEvidence(doc, callsOf(v1), chainOf(s)))).to.deep.equal([]);
      expect(await verifyEvidence({ ...doc, version: 3 }, callsOf(v1), chainOf(s))).to.deep.equal([
        { action: "evidence", ok: false, why: "version: 3 is not a version verify reads (1, 2)" },
      ]);
      const malformed = { ...doc, policy: { ...(doc.policy as object), unitSize: 5 } };
      expect(await verifyEvidence(malformed, callsOf(v1), chainOf(s))).to.deep.equal([
        {
          action: "evidence",
          ok: false,
          why: "malformed: policy.unitSize: Invalid input: expected string, received number",
        },
      ]);
    });

    it("names at most (members − exclusion factor) ineligible, the worst first, and only current members", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      // Nodes 1 and 2 fail (scores 100 and 500); three members at replication 2 allow one exclusion.
      const body = (validator: number): ReportBody =>
        reportBody(1, 4, [1, 2, 3], (node) => ({ score: node === 1 ? 500 + validator : node === 2 ? 100 : 9800 }));
      s.reports = await Promise.all(validators.map((w, i) => signReport(w, s.chainId, s.core, body(i))));
      const d = decided(decideEra(s));
      expect((d.evidence.aggregation as { ineligible: number[] }).ineligible).to.deep.equal([1, 2]);
      expect(d.planned.find((p) => p.kind === "distribution")).to.deep.equal({ kind: "distribution", ineligible: [2] });
      // At the replication floor (two members), nobody can be excluded: the replacement goes on.
      const floor = decided(decideEra({ ...s, members: s.members.slice(1) }));
      expect(floor.planned.find((p) => p.kind === "distribution")).to.deep.equal({
        kind: "distribution",
        ineligible: [],
      });
      expect(failures(await verifyEvidence(JSON.parse(d.json), callsOf(d), chainOf(s)))).to.deep.equal([]);
      // The factor was lowered to 1 since the last distribution: the core still counts 2 for this one.
      const lowered = decided(decideEra({ ...s, params: { ...s.params, replicationFactor: 1, exclusionFactor: 2 } }));
      expect(lowered.planned.find((p) => p.kind === "distribution")).to.deep.equal({
        kind: "distribution",
        ineligible: [2],
      });
      const inForce = decided(decideEra({ ...s, params: { ...s.params, replicationFactor: 1, exclusionFactor: 1 } }));
      expect(inForce.planned.find((p) => p.kind === "distribution")).to.deep.equal({
        kind: "distribution",
        ineligible: [1, 2],
      });
    });

    it("scores the members as of the era's end: one that joined since is not scored, one that left is not excluded", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      // Node 2 was replaced by node 4 after the era ended: the reports score 1, 2, 3.
      const d = decided(
        decideEra({
          ...s,
          scored: [1, 2, 3],
          members: [1, 3, 4].map((node) => ({ node, vNodes: 1, pendingReplacement: false })),
          history: { "1": [9800, 9800], "3": [9800, 9800] },
        }),
      );
      const scores = (d.evidence.aggregation as { scores: { node: number }[] }).scores.map((x) => x.node);
      expect(scores).to.deep.equal([1, 2, 3]);
      expect(d.evidence.scored).to.deep.equal([1, 2, 3]);
      // Node 2 failed but is gone; node 4 has no score for the era and no failing streak.
      expect(d.planned.filter((p) => p.kind !== "usage-report")).to.deep.equal([
        { kind: "distribution", ineligible: [] },
      ]);
    });

    it("leaves out of usage the buckets the chain says are not the cluster's, and records them", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const buckets = [1, 7, 9].map((bucket) => ({ bucket, measuredBytes: GIB.toString() }));
      s.reports = await Promise.all(
        validators.map((w) =>
          signReport(
            w,
            s.chainId,
            s.core,
            reportBody(1, 4, [1, 2, 3], () => ({}), buckets),
          ),
        ),
      );
      const d = decided(decideEra({ ...s, foreignBuckets: [7, 9, 12] }));
      expect(d.planned[0]).to.deep.equal({ kind: "usage-report", buckets: [1], measuredUnits: ["1"] });
      // Only those a quorum measured (12 was in no report) are recorded, and decided again the same.
      expect((d.evidence.aggregation as { foreignBuckets: number[] }).foreignBuckets).to.deep.equal([7, 9]);
      expect(decided(decideEra(snapshotOf(JSON.parse(d.json)))).hash).to.equal(d.hash);
      expect(failures(await verifyEvidence(JSON.parse(d.json), callsOf(d), chainOf(s, [7, 9])))).to.deep.equal([]);
      // The chain says 9 is the cluster's after all: leaving it out is a failure, and so is keeping 7.
      const lines = await verifyEvidence(JSON.parse(d.json), callsOf(d), chainOf(s, [7]));
      expect(lines).to.deep.include({
        action: "aggregation.foreignBuckets",
        ok: false,
        why: "bucket 9: left out, yet it is the cluster's",
      });
      const kept = decided(decideEra({ ...s, foreignBuckets: [9] }));
      expect(await verifyEvidence(JSON.parse(kept.json), callsOf(kept), chainOf(s, [7, 9]))).to.deep.include({
        action: "aggregation.foreignBuckets",
        ok: false,
        why: "bucket 7: kept, yet it is not the cluster's (the core reverts the call)",
      });
    });

    it("splits a usage report into calls of at most 300 buckets, and verify checks each", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const buckets = Array.from({ length: 301 }, (_, i) => ({ bucket: i + 1, measuredBytes: GIB.toString() }));
      s.reports = await Promise.all(
        validators.map((w) =>
          signReport(
            w,
            s.chainId,
            s.core,
            reportBody(1, 4, [1, 2, 3], () => ({}), buckets),
          ),
        ),
      );
      const d = decided(decideEra(s));
      const usage = d.actions.find((a) => a.key.kind === "usage-report")!;
      expect(usage.calls).to.have.length(2);
      const core = IDDC__factory.createInterface();
      const [first, second] = usage.calls.map((c) => core.decodeFunctionData("clusterReportUsage", c.data));
      expect(first.buckets).to.have.length(300);
      expect(second.buckets).to.deep.equal([301n]);
      expect(failures(await verifyEvidence(JSON.parse(d.json), usage.calls, chainOf(s)))).to.deep.equal([]);
    });

    it("a call that sends a value the decided action does not ask for is a mismatch", async function () {
      const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
      const d = decided(decideEra(s));
      const doc = JSON.parse(d.json) as Record<string, unknown>;
      const calls = callsOf(d);
      expect(calls.map((c) => c.value)).to.deep.equal([0n, 0n, 0n]);
      for (const [i, action] of d.actions.entries()) {
        const paid = calls.map((c, k) => (k === i ? { ...c, value: 1n } : c));
        expect(failures(await verifyEvidence(doc, paid, chainOf(s)))).to.deep.equal([
          { action: action.title, ok: false, why: "the call on chain sends 1 wei, the decided action sends none" },
        ]);
      }
    });
  });

  describe("against the chain", function () {
    /** The DAO's cluster with the three validators, another cluster with a bucket, and the era just closed. */
    async function fixture() {
      const f = await daoCluster(validators.map((v) => v.address));
      const ddc = f.system.ddc;
      await ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      const other = await ddc.clusterCount();
      await ddc.connect(f.owner).bucketCreate(other, "");
      const foreign = await ddc.bucketCount();
      const { chainId } = await ethers.provider.getNetwork();
      const era = Number((await ddc.clusterEra(f.cluster)).era) - 1;
      return { ...f, other, foreign, chainId: Number(chainId), era };
    }

    const stores: BotStore[] = [];
    afterEach(function () {
      for (const s of stores.splice(0)) s.close();
    });

    /**
     * The bot's decision of the closed era from the three validators' reports: node 2 (the second
     * member) fails (scores 100, 200, 9500), node 1 scores 9900, node 3 9700; `buckets` measured
     * (the owner's bucket: 12 GiB).
     */
    async function setup(
      options: { buckets?: (f: Awaited<ReturnType<typeof fixture>>) => ReportBody["buckets"] } = {},
    ) {
      const f = await loadFixture(fixture);
      const ddc = f.system.ddc;
      const chain = coreChainView(ddc, ethers.provider, f.chainId);
      const store = tempBotStore();
      stores.push(store);
      const members = (await ddc.clusterNodes(f.cluster)).map(Number);
      const [first, failing] = members;
      const buckets = options.buckets?.(f) ?? [{ bucket: Number(f.bucket), measuredBytes: (12n * GIB).toString() }];
      const body = (i: number, scores = [100, 200, 9500]) =>
        reportBody(
          f.cluster,
          f.era,
          members,
          (n) => (n === failing ? { score: scores[i] } : n === first ? { score: 9900 } : {}),
          buckets,
        );
      const reports = await Promise.all(validators.map((v, i) => signReport(v, f.chainId, f.core, body(i))));
      const intake = new ReportIntake(chain, store);
      for (const r of reports) expect((await intake.submit(r, "test")).status).to.equal("accepted");
      const input: EraInput = {
        ddc,
        chain,
        store,
        cluster: Number(f.cluster),
        policy: { failingEras: 1, maxPerEra: 1 },
        routine: new OperatorExecutor({ bot: f.bot }),
        structural: new GovernorExecutor(f.system.governor, { bot: f.bot }),
      };
      const s = await snapshotNow(input, f.era, await ethers.provider.getBlockNumber());
      const d = decided(decideEra(s));
      return { f, ddc, chain, input, reports, body, s, d, failing, members };
    }

    /** A document as someone could publish it, and the calls it leads to (carrying its hash). */
    function published(doc: Record<string, unknown>): { doc: Record<string, unknown>; calls: OnChainCall[] } {
      const calls = buildActions(snapshotOf(doc), doc.actions as PlannedAction[], evidenceHash(doc)).flatMap(
        (a) => a.calls,
      );
      return { doc, calls };
    }

    const reportLine = (r: SignedReport, why: string): VerifyLine => ({
      action: `report of ${getAddress(r.validator)} (${reportDigest(r.chainId, r.core, r.report).slice(0, 10)}…)`,
      ok: false,
      why,
    });

    it("reads an era's parameters as of its end: a change in the very block that ends it does not count", async function () {
      const f = await loadFixture(fixture);
      const ddc = f.system.ddc;
      const chain = coreChainView(ddc, ethers.provider, f.chainId);
      const other = Number(f.other);
      const [era, , end] = await ddc.clusterEra(other);
      await time.setNextBlockTimestamp(end);
      await ddc.connect(f.manager).clusterChangeParams(other, { ...CLUSTER_PARAMS, qosThreshold: 9500 });
      expect(await chain.paramsAt(other, Number(era))).to.deep.equal({
        qosThreshold: 9000,
        replicationFactor: 2,
        unitSize: GIB,
      });
      expect(await chain.paramsAt(other, Number(era) + 1)).to.deep.equal({
        qosThreshold: 9500,
        replicationFactor: 2,
        unitSize: GIB,
      });
      expect(await chain.paramsAt(99, 0)).to.equal(undefined);
      // Logs read from after the cluster's creation: its unit size is unknown, and nothing is guessed.
      const from = await ethers.provider.getBlockNumber();
      const late = coreChainView(ddc, ethers.provider, f.chainId, { fromBlock: from });
      await expect(late.paramsAt(other, Number(era))).to.be.rejectedWith(
        `cluster ${other}'s creation is not in the core's logs read from block ${from}: its parameters at the end of era ${era} are unknown`,
      );
    });

    it("says which buckets are not the cluster's, through its bucket index in pages", async function () {
      const f = await loadFixture(fixture);
      const ddc = f.system.ddc;
      for (let i = 0; i < 4; i++) await ddc.connect(f.owner).bucketCreate(f.cluster, "");
      const last = Number(await ddc.bucketCount());
      const own = [Number(f.bucket), last - 3, last - 2, last - 1, last];
      for (const bucketPage of [1, 2, 5_000]) {
        const chain = coreChainView(ddc, ethers.provider, f.chainId, { bucketPage });
        expect(await chain.foreignBuckets(Number(f.cluster), [...own, Number(f.foreign), 10_000])).to.deep.equal([
          Number(f.foreign),
          10_000,
        ]);
        expect(await chain.foreignBuckets(Number(f.cluster), [])).to.deep.equal([]);
        expect(await chain.foreignBuckets(Number(f.other), own)).to.deep.equal(own);
      }
    });

    it("the bot decides with the parameters in force at the era's end: decided again later, after a change, the same document", async function () {
      const { f, ddc, input, d } = await setup();
      const doc = JSON.parse(d.json) as { version: number; policy: { qosThreshold: number } };
      expect([doc.version, doc.policy.qosThreshold]).to.deep.equal([2, 9000]);
      // The DAO raises the threshold after the era has ended; the bot decides the era again.
      await passProposal(f, {
        actions: [
          {
            target: f.core,
            data: ddc.interface.encodeFunctionData("clusterChangeParams", [
              f.cluster,
              { ...CLUSTER_PARAMS, qosThreshold: 9800 },
            ]),
          },
        ],
        description: `# Raise cluster ${f.cluster}'s QoS threshold`,
      });
      expect((await readCluster(ddc, Number(f.cluster))).params.qosThreshold).to.equal(9800);
      const later = await ethers.provider.getBlockNumber();
      const again = decided(decideEra(await snapshotNow(input, f.era, later)));
      expect(again.hash).to.equal(d.hash);
    });

    it("the honest case, end to end: a Governor proposal verifies", async function () {
      const { f, chain, d, failing } = await setup();
      expect(d.planned.slice(1)).to.deep.equal([
        { kind: "distribution", ineligible: [failing] },
        { kind: "replace-node", node: failing, replacements: [Number(f.nodes[3])] },
      ]);
      const replace = d.actions[2];
      const { id } = await proposeOnce(f.system.governor.connect(f.bot), toProposal(replace, f.bot.address));
      const created = (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).find(
        (e) => e.args.proposalId === id,
      )!;
      const onChain = created.args.targets.map((target, i) => ({
        target,
        data: created.args.calldatas[i],
        value: created.args[3][i], // `values` by index: the name is also an Array method
      }));
      const lines = await verifyEvidence(JSON.parse(d.json), onChain, chain);
      expect(failures(lines)).to.deep.equal([]);
      expect(lines.slice(0, 6)).to.deep.equal([
        { action: "evidence", ok: true, why: `version 2 of cluster ${f.cluster} era ${f.era}, hash ${d.hash}` },
        { action: "policy.qosThreshold", ok: true, why: "9000, in force at the era's end" },
        { action: "policy.unitSize", ok: true, why: `${GIB}, in force at the era's end` },
        { action: "policy.replicationFactor", ok: true, why: "2, in force at the era's end" },
        { action: "validators", ok: true, why: "the chain's 3 at the era's end" },
        { action: "scored members", ok: true, why: "the chain's 3 members at the era's end" },
      ]);
      expect(lines.at(-1)).to.deep.equal({ action: replace.title, ok: true, why: `matches the evidence (${d.hash})` });
    });

    it("the honest case, end to end: an operator's transactions verify by hash; a mined and reverted one is named", async function () {
      const { f, chain, d } = await setup();
      const doc = JSON.parse(d.json) as Record<string, unknown>;
      const [usage, distribution] = d.actions;
      for (const action of [usage, distribution]) {
        const sent = await f.bot.sendTransaction({ to: action.calls[0].target, data: action.calls[0].data });
        const mined = (await sent.wait())!;
        const tx = (await transactionCalls(ethers.provider, sent.hash))!;
        expect(tx.lines).to.deep.equal([
          {
            action: "transaction",
            ok: true,
            why: `${sent.hash} from ${f.bot.address}, mined in block ${mined.blockNumber}`,
          },
        ]);
        const lines = [...tx.lines, ...(await verifyEvidence(doc, tx.calls, chain))];
        expect(failures(lines)).to.deep.equal([]);
        expect(lines.at(-1)).to.deep.equal({ action: action.title, ok: true, why: `matches the evidence (${d.hash})` });
      }
      expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(BigInt(f.era + 1));
      // The same distribution again: sent (its gas given), it is mined and reverts. Before it is
      // mined, its call is checked as sent.
      await network.provider.send("evm_setAutomine", [false]);
      let hash: string;
      try {
        const { target, data } = distribution.calls[0];
        hash = (await f.bot.sendTransaction({ to: target, data, gasLimit: 500_000 })).hash;
        const pending = (await transactionCalls(ethers.provider, hash))!;
        expect(pending.lines).to.deep.equal([
          {
            action: "transaction",
            ok: true,
            why: `${hash} from ${f.bot.address} is not mined yet: its call is checked as sent`,
          },
        ]);
        await network.provider.send("evm_mine", []);
      } finally {
        await network.provider.send("evm_setAutomine", [true]);
      }
      const receipt = (await ethers.provider.getTransactionReceipt(hash))!;
      expect(receipt.status).to.equal(0);
      const reverted = (await transactionCalls(ethers.provider, hash))!;
      expect(reverted.lines).to.deep.equal([
        {
          action: "transaction",
          ok: false,
          why: `status: ${hash} from ${f.bot.address} was mined in block ${receipt.blockNumber} and reverted: it carried out nothing`,
        },
      ]);
      // Its call is the decided one; the transaction did nothing all the same.
      const lines = [...reverted.lines, ...(await verifyEvidence(doc, reverted.calls, chain))];
      expect(failures(lines)).to.deep.equal(reverted.lines);
      expect(await transactionCalls(ethers.provider, ethers.id("no such transaction"))).to.equal(null);
    });

    it("the honest case, end to end: a Safe transaction verifies; a look-alike MultiSend, a refund or a changed value does not", async function () {
      const { f, chain, d } = await setup();
      const doc = JSON.parse(d.json) as Record<string, unknown>;
      const safe = await createSafe(
        f.deployer,
        f.system.safe,
        f.guardians.map((g) => g.address),
        2,
        77n,
      );
      const [usage, distribution] = d.actions.slice(0, 2).map((a) => a.calls[0]);
      const calls = [usage, distribution].map((c) => ({ to: c.target, data: c.data, value: c.value }));
      const honest = await buildSafeTxData(f.safeConnection(safe), f.guardians[0].address, calls, 0);
      const callOnly = getAddress(f.system.safe.MultiSendCallOnly);
      expect([honest.to, honest.operation]).to.deep.equal([callOnly, 1]);
      const trust = { chainId: f.chainId, contracts: { MultiSendCallOnly: callOnly } };
      const check = async (data: typeof honest) => {
        const { calls: found, refused } = safeTxCalls(data, trust);
        return [...refused, ...(await verifyEvidence(doc, found, chain))];
      };
      const good = await check(honest);
      expect(failures(good)).to.deep.equal([]);
      expect(good.slice(-2).map((l) => l.action)).to.deep.equal(d.actions.slice(0, 2).map((a) => a.title));

      // The same audited MultiSendCallOnly deployed again elsewhere, fed the honest batch.
      const { abi, bytecode } = safeArtifact("MultiSendCallOnly");
      const lookAlike = await new ContractFactory(abi as never[], bytecode, f.deployer).deploy();
      const elsewhere = await lookAlike.getAddress();
      expect(failures(await check({ ...honest, to: elsewhere }))).to.deep.equal([
        {
          action: "Safe transaction",
          ok: false,
          why:
            `a delegatecall to ${elsewhere}, which is not the canonical MultiSendCallOnly (it is ${callOnly}): ` +
            "it runs that contract's code with the Safe's own storage and funds, and can take over the Safe",
        },
        { action: "calls", ok: false, why: "nothing on chain to compare" },
      ]);
      // The honest calls, with a gas refund to a stranger.
      const stranger = f.stranger.address;
      expect(failures(await check({ ...honest, gasPrice: "1", refundReceiver: stranger }))).to.deep.equal([
        {
          action: "Safe transaction",
          ok: false,
          why: "a gas refund: gasPrice is 1, not 0 (the Safe would pay it out of its own funds)",
        },
        {
          action: "Safe transaction",
          ok: false,
          why: `a gas refund: refundReceiver is ${stranger}, not the zero address (the Safe would pay it out of its own funds)`,
        },
      ]);
      // A call of the batch sends a value; the batch itself sends one.
      const paid = packMultiSend([{ ...calls[0], value: 1n }, calls[1]]);
      expect(failures(await check({ ...honest, data: paid }))).to.deep.equal([
        {
          action: d.actions[0].title,
          ok: false,
          why: "the call on chain sends 1 wei, the decided action sends none",
        },
      ]);
      expect(failures(await check({ ...honest, value: "1" }))).to.deep.equal([
        { action: "Safe transaction", ok: false, why: "the batch carries 1 wei: the decided actions send none" },
      ]);
    });

    it("a quorum that lists another cluster's bucket: the bot leaves it out, the usage report goes through, verify checks it", async function () {
      const { f, chain, d } = await setup({
        buckets: (f) =>
          [Number(f.bucket), Number(f.foreign), 10_000].map((bucket) => ({
            bucket,
            measuredBytes: (3n * GIB).toString(),
          })),
      });
      expect(d.planned[0]).to.deep.equal({ kind: "usage-report", buckets: [Number(f.bucket)], measuredUnits: ["3"] });
      const doc = JSON.parse(d.json) as { aggregation: { foreignBuckets: number[] } };
      expect(doc.aggregation.foreignBuckets).to.deep.equal([Number(f.foreign), 10_000]);
      const usage = d.actions[0].calls[0];
      await (await f.bot.sendTransaction({ to: usage.target, data: usage.data })).wait();
      expect((await f.system.ddc.getBucket(f.bucket)).measured).to.equal(3n);
      const lines = await verifyEvidence(JSON.parse(d.json), [usage], chain);
      expect(failures(lines)).to.deep.equal([]);
      expect(lines).to.deep.include({
        action: "aggregation.foreignBuckets",
        ok: true,
        why: `${f.foreign}, 10000 left out: none is the cluster's`,
      });
      // A document that drops the cluster's own bucket as foreign (its owner is not billed).
      const dropped = decided(decideEra({ ...snapshotOf(JSON.parse(d.json)), foreignBuckets: [Number(f.bucket)] }));
      const forged = published(JSON.parse(dropped.json));
      expect(failures(await verifyEvidence(forged.doc, forged.calls, chain))).to.deep.include({
        action: "aggregation.foreignBuckets",
        ok: false,
        why: `bucket ${f.bucket}: left out, yet it is the cluster's; bucket ${f.foreign}: kept, yet it is not the cluster's (the core reverts the call); bucket 10000: kept, yet it is not the cluster's (the core reverts the call)`,
      });
    });

    describe("self-consistent evidence that is not the chain's: NOT verified, naming the field", function () {
      it("its own validator set (keys that are not the chain's validators, declared in the document)", async function () {
        const { f, chain, s, body } = await setup();
        const reports = await Promise.all(
          impostors.map((w, i) => signReport(w, f.chainId, f.core, body(i, [9700, 9700, 9700]))),
        );
        const own = decided(decideEra({ ...s, validators: impostors.map((w) => w.address), reports }));
        expect(own.planned.find((p) => p.kind === "distribution")).to.deep.equal({
          kind: "distribution",
          ineligible: [],
        });
        const lines = await verifyEvidence(JSON.parse(own.json), callsOf(own), chain);
        const stated = impostors.map((w) => w.address).sort();
        const actual = validators.map((w) => w.address).sort();
        expect(lines).to.deep.include({
          action: "validators",
          ok: false,
          why: `the evidence lists ${stated.join(", ")}, the chain's set at the era's end is ${actual.join(", ")} (not the chain's: ${stated.join(", ")}; left out: ${actual.join(", ")})`,
        });
        for (const r of reports) {
          expect(lines).to.deep.include(reportLine(r, "validator: not in the chain's validator set at the era's end"));
        }
        expect(lines.at(-1)).to.deep.equal({
          action: "aggregation",
          ok: false,
          why: "the reports that count are 0 of the 2 needed (of 3 validators)",
        });
      });

      it("a raised threshold", async function () {
        const { chain, s } = await setup();
        const raised = decided(decideEra({ ...s, params: { ...s.params, qosThreshold: 9800 } }));
        const lines = await verifyEvidence(JSON.parse(raised.json), callsOf(raised), chain);
        expect(failures(lines).slice(0, 3)).to.deep.equal([
          {
            action: "policy.qosThreshold",
            ok: false,
            why: "the evidence says 9800, the chain 9000 (in force at the era's end)",
          },
          {
            action: "aggregation.scores",
            ok: false,
            why: `node ${s.scored![2]}: the evidence states 9700 (ineligible), the reports give 9700`,
          },
          {
            action: "aggregation.ineligible",
            ok: false,
            why: `the evidence states ${s.scored![1]}, ${s.scored![2]}, the reports give ${s.scored![1]}`,
          },
        ]);
      });

      it("a quartered unit size", async function () {
        const { f, chain, s } = await setup();
        const quartered = decided(decideEra({ ...s, params: { ...s.params, unitSize: GIB / 4n } }));
        expect(quartered.planned[0]).to.deep.equal({
          kind: "usage-report",
          buckets: [Number(f.bucket)],
          measuredUnits: ["48"],
        });
        const lines = await verifyEvidence(JSON.parse(quartered.json), callsOf(quartered), chain);
        expect(lines).to.deep.include({
          action: "policy.unitSize",
          ok: false,
          why: `the evidence says ${GIB / 4n}, the chain ${GIB} (in force at the era's end)`,
        });
        expect(lines).to.deep.include({
          action: "aggregation.usage",
          ok: false,
          why: `bucket ${f.bucket}: the evidence states 48 units (${12n * GIB} bytes), the reports give 12 units (${12n * GIB} bytes)`,
        });
        expect(lines).to.deep.include({
          action: quartered.actions[0].title,
          ok: false,
          why: "calldata: the call on chain differs from the one the evidence leads to (arguments or evidence hash)",
        });
      });

      it("one validator's report listed twice to reach the quorum", async function () {
        const { f, chain, s, body } = await setup();
        // The third validator scores the failing node 9500: alone, it would keep it paid.
        const friendly = await signReport(validators[2], f.chainId, f.core, body(2));
        const twin = await signReport(validators[1], f.chainId, f.core, body(2));
        const base = decided(decideEra({ ...s, reports: [friendly, twin] }));
        expect(base.planned.find((p) => p.kind === "distribution")).to.deep.equal({
          kind: "distribution",
          ineligible: [],
        });
        const doc = JSON.parse(base.json) as { reports: SignedReport[] };
        doc.reports = [friendly, friendly];
        const forged = published(doc as unknown as Record<string, unknown>);
        const lines = await verifyEvidence(forged.doc, forged.calls, chain);
        const twice = reportLine(friendly, "duplicate: this validator's report is listed 2 times (it counts once)");
        expect(lines.filter((l) => l.action.startsWith("report of"))).to.deep.equal([twice, twice]);
        expect(lines.at(-1)).to.deep.equal({
          action: "aggregation",
          ok: false,
          why: "the reports that count are 1 of the 2 needed (of 3 validators)",
        });
      });

      it("reports signed for another chain", async function () {
        const { f, chain, d, body } = await setup();
        const doc = JSON.parse(d.json) as { reports: SignedReport[] };
        const mine = doc.reports.find((r) => getAddress(r.validator) === validators[0].address)!;
        const elsewhere = await Promise.all([1, 2].map((i) => signReport(validators[i], 1, f.core, body(i))));
        doc.reports = [mine, ...elsewhere];
        const forged = published(doc as unknown as Record<string, unknown>);
        const lines = await verifyEvidence(forged.doc, forged.calls, chain);
        for (const r of elsewhere) {
          expect(lines).to.deep.include(reportLine(r, `chainId: signed for chain 1, this is chain ${f.chainId}`));
        }
        expect(lines.at(-1)).to.deep.equal({
          action: "aggregation",
          ok: false,
          why: "the reports that count are 1 of the 2 needed (of 3 validators)",
        });
      });

      it("an aggregation the reports do not give (a score stated, the actions left as they were)", async function () {
        const { chain, d, failing } = await setup();
        const doc = JSON.parse(d.json) as {
          aggregation: { scores: { node: number; score: number; eligible: boolean }[]; ineligible: number[] };
        };
        const score = doc.aggregation.scores.find((x) => x.node === failing)!;
        expect(score).to.deep.equal({ node: failing, score: 200, eligible: false });
        Object.assign(score, { score: 9500, eligible: true });
        doc.aggregation.ineligible = [];
        const forged = published(doc as unknown as Record<string, unknown>);
        const lines = await verifyEvidence(forged.doc, forged.calls, chain);
        expect(failures(lines)).to.deep.equal([
          {
            action: "aggregation.scores",
            ok: false,
            why: `node ${failing}: the evidence states 9500, the reports give 200 (ineligible)`,
          },
          {
            action: "aggregation.ineligible",
            ok: false,
            why: `the evidence states none, the reports give ${failing}`,
          },
        ]);
      });

      it("evidence of another chain or core, and an era not over", async function () {
        const { f, chain, d } = await setup();
        const doc = JSON.parse(d.json) as Record<string, unknown>;
        const lines = await verifyEvidence({ ...doc, chainId: 5 }, callsOf(d), chain);
        expect(lines[0]).to.deep.equal({
          action: "evidence",
          ok: false,
          why: `chainId: the evidence says 5, this chain is ${f.chainId}`,
        });
        const stranger = getAddress("0x00000000000000000000000000000000000c0de1");
        expect((await verifyEvidence({ ...doc, core: stranger }, callsOf(d), chain))[0]).to.deep.equal({
          action: "evidence",
          ok: false,
          why: `core: the evidence says ${stranger}, this chain's is ${getAddress(f.core)}`,
        });
        const [current, , end] = await f.system.ddc.clusterEra(f.cluster);
        const now = BigInt(await time.latest());
        expect((await verifyEvidence({ ...doc, era: Number(current) }, callsOf(d), chain)).at(-1)).to.deep.equal({
          action: `era ${current}`,
          ok: false,
          why: `era: era ${current} ends at ${end}, it is ${now}: not decidable yet`,
        });
        expect((await verifyEvidence({ ...doc, cluster: 99 }, callsOf(d), chain)).at(-1)).to.deep.equal({
          action: "cluster 99",
          ok: false,
          why: `cluster: no cluster 99 on the core ${getAddress(f.core)}`,
        });
      });
    });
  });
});
