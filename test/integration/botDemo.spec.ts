import { expect } from "chai";
import { ethers, network } from "hardhat";
import { getAddress } from "ethers";
import {
  DEFAULT_ERAS,
  POLICY,
  SCENARIO,
  runBotDemo,
  scriptedBytes,
  type DemoSummary,
  type EraDecisionLine,
} from "../fixtures/scriptedDemo/botDemo";
import { DDCGovernor__factory, IDDC__factory, TestStablecoin__factory, type IDDC } from "../../typechain-types";

const GIB = 1n << 30n;
const EXECUTED = 7n; // Governor.ProposalState.Executed

/**
 * runBotDemo, the scripted-report story: the real bot service over the demo world, eras moving on, the
 * validators signing the scripted scenario. Everything is checked against the chain (the core's
 * events and views, the Governor), not only against what the story says.
 */
describe("the scripted-report story: the manager bot over two clusters (integration)", function () {
  let s: DemoSummary;
  let lines: string[];
  let ddc: IDDC;
  let snapshot: string;
  let dao: number;
  let safe: number;

  before(async function () {
    snapshot = (await network.provider.send("evm_snapshot", [])) as string;
    lines = [];
    s = await runBotDemo((line) => lines.push(line));
    ddc = IDDC__factory.connect(s.core, ethers.provider);
    dao = s.clusters.find((c) => c.manager === "governor")!.id;
    safe = s.clusters.find((c) => c.manager === "safe")!.id;
  });

  after(async function () {
    // The story moved the clock by weeks: leave the network as the other specs found it.
    await network.provider.send("evm_revert", [snapshot]);
  });

  const decisions = (cluster: number) => s.decisions.filter((d) => d.cluster === cluster);
  /** The step (1-based) at which a degraded node first fails the threshold. */
  const firstBad = (node: number) => SCENARIO.degraded.find((d) => d.node === node)!.slowFrom;

  describe("every era", function () {
    it("is decided in both clusters, in order, with no failed run, alert or rejected report", async function () {
      expect(s.problems).to.deep.equal([]);
      expect(s.steps).to.have.length(DEFAULT_ERAS);
      for (const c of [dao, safe]) {
        const closed = s.steps.map((st) => st.closed[c]);
        expect(closed).to.deep.equal(
          closed.map((_, i) => closed[0] + i),
          "consecutive eras",
        );
        expect(decisions(c).map((d) => d.era)).to.deep.equal(closed);
        expect((await ddc.clusterRevenue(c)).nextEra).to.equal(BigInt(closed.at(-1)! + 1));
      }
    });

    it("is distributed on chain with the decision's evidence and ineligible nodes", async function () {
      for (const c of [dao, safe]) {
        const events = await ddc.queryFilter(ddc.filters.RevenuesDistributed(c));
        const onChain = events.map((e) => ({
          era: Number(e.args.era),
          evidence: e.args.evidenceHash,
          ineligible: e.args.ineligible.map(Number),
          amount: e.args.amount,
          toReserve: e.args.toReserve,
        }));
        expect(onChain).to.deep.equal(
          decisions(c).map((d) => ({
            era: d.era,
            evidence: d.evidence,
            ineligible: d.ineligible,
            amount: d.distributed!.amount,
            toReserve: d.distributed!.toReserve,
          })),
        );
        // No reserve was withdrawn: the reserve is the excluded nodes' shares, to the unit.
        const reserve = onChain.reduce((sum, e) => sum + e.toReserve, 0n);
        expect((await ddc.clusterRevenue(c)).reserve).to.equal(reserve);
        expect(s.reserves.find((r) => r.cluster === c)!.reserve).to.equal(reserve);
        expect(reserve).to.be.greaterThan(0n);
      }
    });

    it("bills measured usage: the growing bucket is billed by the lower median of the validators' bytes", async function () {
      const dec = decisions(dao);
      const growing = s.growingBucket;
      for (const [i, d] of dec.entries()) {
        const u = d.usage.find((x) => x.bucket === growing)!;
        const bytes = scriptedBytes(i + 1, growing, growing, 0);
        expect(u.measuredBytes).to.equal(bytes);
        expect(u.units).to.equal((bytes + GIB - 1n) / GIB);
      }
      const reports = await ddc.queryFilter(ddc.filters.UsageReported(dao));
      expect(reports.map((e) => Number(e.args.era))).to.deep.equal(dec.map((d) => d.era));
      const last = dec.at(-1)!.usage.find((x) => x.bucket === growing)!.units;
      expect(last).to.be.greaterThan(10n, "past its 10-unit reservation");
      expect((await ddc.getBucket(growing)).billed).to.equal(last);
    });
  });

  describe("the DAO cluster: a node degrades, is excluded, then replaced by a vote", function () {
    it("names node 1 ineligible from its first bad era until it leaves the ring, and no other node", function () {
      const replaced = s.replacements.find((r) => r.cluster === dao)!;
      for (const d of decisions(dao)) {
        const member = d.era < replaced.executedInEra!;
        expect(d.ineligible).to.deep.equal(d.step >= firstBad(1) && member ? [1] : [], `era ${d.era}`);
      }
      expect(decisions(dao).filter((d) => d.ineligible.includes(1)).length).to.be.greaterThanOrEqual(
        POLICY.failingEras,
      );
    });

    it("has the bot propose the replacement after failingEras bad eras; voters pass it; the keeper executes it", async function () {
      const r = s.replacements.find((x) => x.cluster === dao)!;
      expect(r).to.deep.include({ node: 1, replacements: [2], via: "governor", state: "executed" });
      const decidedAt: EraDecisionLine = decisions(dao).find((d) => d.era === r.decidedInEra)!;
      expect(decidedAt.step).to.equal(firstBad(1) + POLICY.failingEras - 1);
      const governor = DDCGovernor__factory.connect(s.contracts.DDCGovernor, ethers.provider);
      const id = BigInt(r.ref);
      expect(await governor.state(id)).to.equal(EXECUTED);
      expect(getAddress(await governor.proposalProposer(id))).to.equal(s.bot);
      expect(r.votes).to.have.length(3);
      for (const v of r.votes) expect(await governor.hasVoted(id, v.voter)).to.equal(true);
      const [replaced] = await ddc.queryFilter(ddc.filters.ClusterNodeReplaced(dao, 1));
      expect(replaced.args.replacements.map(Number)).to.deep.equal([2]);
      expect(replaced.args.evidenceHash).to.equal(decidedAt.evidence);
      // Executed by the Timelock, the cluster's manager.
      const executed = await governor.queryFilter(governor.filters.ProposalExecuted());
      expect(executed.map((e) => e.args.proposalId)).to.include(id);
    });

    it("leaves a ring without node 1: node 2 holds its vNode", async function () {
      const members = (await ddc.clusterNodes(dao)).map(Number);
      expect(members).to.not.include(1);
      expect(members).to.include(2);
      const ring = s.rings.find((x) => x.cluster === dao)!;
      expect(ring.before).to.include(1);
      expect([...ring.after].sort()).to.deep.equal([...members].sort());
      const [, nodes] = await ddc.clusterRing(dao);
      expect(nodes.map(Number)).to.not.include(1);
    });
  });

  describe("the Safe cluster: a degraded node replaced by a Safe transaction", function () {
    it("is signed by the bot as one owner and by a second owner, and executed by the bot's keeper", async function () {
      const r = s.replacements.find((x) => x.cluster === safe)!;
      expect(r).to.deep.include({ node: 4, replacements: [3], via: "safe", state: "executed" });
      expect(r.signatures).to.have.length(2);
      expect(r.signatures[0]).to.equal(s.bot);
      const [replaced] = await ddc.queryFilter(ddc.filters.ClusterNodeReplaced(safe, 4));
      const decidedAt = decisions(safe).find((d) => d.era === r.decidedInEra)!;
      expect(replaced.args.evidenceHash).to.equal(decidedAt.evidence);
      // The Safe made the call (execTransaction sent by the bot's key).
      const tx = (await ethers.provider.getTransaction(replaced.transactionHash))!;
      expect(getAddress(tx.to!)).to.equal(getAddress(s.opsSafe));
      expect(getAddress(tx.from)).to.equal(s.bot);
      expect((await ddc.clusterNodes(safe)).map(Number)).to.not.include(4);
    });
  });

  describe("the summary", function () {
    it("gives each provider's revenue as the chain does, and it is positive", async function () {
      for (const p of s.revenue) {
        let claimable = 0n;
        for (const n of p.nodes) {
          expect(getAddress((await ddc.getNode(n)).provider)).to.equal(p.provider);
          claimable += await ddc.nodeRevenue(n);
        }
        expect(p.claimable).to.equal(claimable);
        expect(claimable).to.be.greaterThan(0n);
      }
    });

    it("gives each owner's balance, billed units and coverage as the chain does", async function () {
      expect(s.owners).to.have.length(4);
      for (const o of s.owners) {
        const l = await ddc.getLedger(o.owner, o.cluster);
        expect(o.balance).to.equal(l.balance);
        expect(o.coveredUntil).to.equal(l.coveredUntil);
        expect(o.billedUnits).to.equal(l.units);
        expect(o.daysLeft).to.be.greaterThan(0);
      }
    });

    it("accounts for every token the core holds, within the rounding bound", async function () {
      const c = s.conservation;
      const token = TestStablecoin__factory.connect(s.contracts.PaymentToken, ethers.provider);
      expect(c.core).to.equal(await token.balanceOf(s.core));
      expect(c.core).to.equal(c.ledgers + c.pools + c.reserves + c.unclaimed + c.feeBalances + c.dust);
      expect(c.holds).to.equal(true);
      expect(c.dust >= 0n && c.dust <= c.bound).to.equal(true);
    });

    it("is printed, with the scripted scenario said so", function () {
      expect(lines).to.include(
        "(Validators sign reports from a scripted scenario until storage nodes can be measured.)",
      );
      expect(lines.filter((l) => l.startsWith("━━ Era"))).to.have.length(DEFAULT_ERAS);
      expect(lines).to.include("━━ Summary ━━");
      expect(lines.at(-1)).to.equal("no failed run, no alert, no rejected report");
    });
  });
});
