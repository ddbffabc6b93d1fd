import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet, getAddress } from "ethers";
import { describe as describeAction, parseEvidence, parseEvidenceUrl, toProposal } from "../../governance/actions";
import { proposeOnce } from "../../governance/dao";
import { IDDC__factory } from "../../typechain-types";
import { decideEra, verifyDecision, type EraDecision, type EraSnapshot } from "../../manager-bot/src/decide";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { reportBody } from "../helpers/reports";
import { daoClusterFixture } from "../helpers/system";

const validators = [1, 2, 3].map((i) => new Wallet("0x" + String(i + 40).padStart(64, "0")));
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

/** Whether `verify` finds every call of the decision's actions right. */
const verifiesAll = (d: EraDecision): boolean =>
  d.decided &&
  verifyDecision(
    JSON.parse(d.json),
    d.actions.flatMap((a) => a.calls),
  ).every((l) => l.ok);

describe("manager bot: an era's decision, its evidence, and verify", function () {
  it("decides usage, distribution and a replacement, each carrying the evidence hash", async function () {
    const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
    const d = decideEra(s);
    expect(d.decided).to.equal(true);
    if (!d.decided) return;
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
    expect(verifiesAll(d)).to.equal(true);
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
    expect(verifiesAll(published)).to.equal(true);
  });

  it("names at most (members − exclusion factor) ineligible, the worst first, and only current members", async function () {
    const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
    // Nodes 1 and 2 fail (scores 100 and 500); three members at replication 2 allow one exclusion.
    const body = (validator: number): ReportBody =>
      reportBody(1, 4, [1, 2, 3], (node) => ({ score: node === 1 ? 500 + validator : node === 2 ? 100 : 9800 }));
    s.reports = await Promise.all(validators.map((w, i) => signReport(w, s.chainId, s.core, body(i))));
    const d = decideEra(s);
    if (!d.decided) throw new Error("undecided");
    expect((d.evidence.aggregation as { ineligible: number[] }).ineligible).to.deep.equal([1, 2]);
    expect(d.planned.find((p) => p.kind === "distribution")).to.deep.equal({ kind: "distribution", ineligible: [2] });
    // At the replication floor (two members), nobody can be excluded: the replacement goes on.
    const floor = decideEra({ ...s, members: s.members.slice(1) });
    if (!floor.decided) throw new Error("undecided");
    expect(floor.planned.find((p) => p.kind === "distribution")).to.deep.equal({
      kind: "distribution",
      ineligible: [],
    });
    expect(verifiesAll(d)).to.equal(true);
    // The factor was lowered to 1 since the last distribution: the core still counts 2 for this one.
    const lowered = decideEra({ ...s, params: { ...s.params, replicationFactor: 1, exclusionFactor: 2 } });
    if (!lowered.decided) throw new Error("undecided");
    expect(lowered.planned.find((p) => p.kind === "distribution")).to.deep.equal({
      kind: "distribution",
      ineligible: [2],
    });
    const inForce = decideEra({ ...s, params: { ...s.params, replicationFactor: 1, exclusionFactor: 1 } });
    if (!inForce.decided) throw new Error("undecided");
    expect(inForce.planned.find((p) => p.kind === "distribution")).to.deep.equal({
      kind: "distribution",
      ineligible: [1, 2],
    });
  });

  it("scores the members as of the era's end: one that joined since is not scored, one that left is not excluded", async function () {
    const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
    // Node 2 was replaced by node 4 after the era ended: the reports score 1, 2, 3.
    const d = decideEra({
      ...s,
      scored: [1, 2, 3],
      members: [1, 3, 4].map((node) => ({ node, vNodes: 1, pendingReplacement: false })),
      history: { "1": [9800, 9800], "3": [9800, 9800] },
    });
    if (!d.decided) throw new Error("undecided");
    const scores = (d.evidence.aggregation as { scores: { node: number }[] }).scores.map((x) => x.node);
    expect(scores).to.deep.equal([1, 2, 3]);
    expect(d.evidence.scored).to.deep.equal([1, 2, 3]);
    // Node 2 failed but is gone; node 4 has no score for the era and no failing streak.
    expect(d.planned.filter((p) => p.kind !== "usage-report")).to.deep.equal([
      { kind: "distribution", ineligible: [] },
    ]);
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
    const d = decideEra(s);
    if (!d.decided) throw new Error("undecided");
    const usage = d.actions.find((a) => a.key.kind === "usage-report")!;
    expect(usage.calls).to.have.length(2);
    const core = IDDC__factory.createInterface();
    const [first, second] = usage.calls.map((c) => core.decodeFunctionData("clusterReportUsage", c.data));
    expect(first.buckets).to.have.length(300);
    expect(second.buckets).to.deep.equal([301n]);
    expect(verifyDecision(JSON.parse(d.json), usage.calls).map((l) => l.ok)).to.not.include(false);
  });

  it("a call that sends a value the decided action does not ask for is a mismatch", async function () {
    const s = await snapshot(getAddress("0x00000000000000000000000000000000000c0de1"), 31337);
    const d = decideEra(s);
    if (!d.decided) throw new Error("undecided");
    const doc = JSON.parse(d.json) as Record<string, unknown>;
    const calls = d.actions.flatMap((a) => a.calls);
    expect(calls.map((c) => c.value)).to.deep.equal([0n, 0n, 0n]);
    for (const [i, action] of d.actions.entries()) {
      const paid = calls.map((c, k) => (k === i ? { ...c, value: 1n } : c));
      const lines = verifyDecision(doc, paid);
      expect(lines.filter((l) => !l.ok)).to.deep.equal([
        { action: action.title, ok: false, why: "the call on chain sends 1 wei, the decided action sends none" },
      ]);
    }
  });

  it("verify passes on the real proposal and fails, saying where, on a tampered one or tampered evidence", async function () {
    const f = await loadFixture(daoClusterFixture);
    const { chainId } = await ethers.provider.getNetwork();
    const s = await snapshot(f.core, Number(chainId));
    const d = decideEra(s);
    if (!d.decided) throw new Error("undecided");
    const distribution = d.actions[1];
    const { id } = await proposeOnce(f.system.governor.connect(f.bot), toProposal(distribution, f.bot.address));
    const created = (await f.system.governor.queryFilter(f.system.governor.filters.ProposalCreated())).find(
      (e) => e.args.proposalId === id,
    )!;
    const onChain = created.args.targets.map((target, i) => ({
      target,
      data: created.args.calldatas[i],
      value: created.args[3][i], // `values` by index: the name is also an Array method
    }));
    const doc = JSON.parse(d.json) as Record<string, unknown>;
    const real = verifyDecision(doc, onChain);
    expect(real.filter((l) => !l.ok)).to.deep.equal([]);
    expect(real.map((l) => l.action)).to.include(distribution.title);

    // A proposal whose calldata names no ineligible node: it is not what the evidence leads to.
    const forgedData = f.system.ddc.interface.encodeFunctionData("clusterDistributeRevenues", [1, 4, [], d.hash]);
    expect(forgedData).to.not.equal(distribution.calls[0].data);
    const bad = verifyDecision(doc, [{ target: f.core, data: forgedData, value: 0n }]);
    expect(bad.at(-1)).to.deep.equal({
      action: distribution.title,
      ok: false,
      why: "the call on chain differs from the one the evidence leads to (arguments or evidence hash)",
    });
    // Evidence edited after the fact (a report's score changed): its signature no longer holds,
    // its hash no longer matches the calldata.
    const edited = JSON.parse(d.json) as { reports: { report: { nodes: { score: number }[] } }[] };
    edited.reports[0].report.nodes[1].score = 9900;
    const lines = verifyDecision(edited as unknown as Record<string, unknown>, onChain);
    expect(lines.some((l) => !l.ok && l.why === "its signature does not match the validator")).to.equal(true);
    expect(lines.at(-1)!.ok).to.equal(false);
  });
});
