import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { POLICY, Teardown, runNetwork, type NetworkSummary } from "../../scripts/network/story";
import { IDDC__factory, type IDDC } from "../../typechain-types";

/**
 * `npm start`'s network, shortened (20 objects per bucket, lighter probing), run whole: anvil, the
 * storage nodes as processes, the validators, the bot, the voters and the Safe owner on loopback.
 * Everything is checked against the chain, not only against what the run says.
 */
describe("npm start: the DDC network on loopback (processes, real chain)", function () {
  // Eras of 30 s: set-up, 2 healthy eras, 2 failing ones, governance, the spares' repair.
  this.timeout(15 * 60_000);
  const teardown = new Teardown();
  const lines: string[] = [];
  let s: NetworkSummary;
  let ddc: IDDC;
  let provider: JsonRpcProvider;

  before(async () => {
    s = await runNetwork((line) => lines.push(line), teardown, { objects: 20, light: true });
    provider = new JsonRpcProvider(s.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    ddc = IDDC__factory.connect(s.core, provider);
  });

  after(async function () {
    provider?.destroy();
    await teardown.run();
  });

  it("replaces each failing node by its cluster's spare (chain state)", async function () {
    for (const c of s.clusters) {
      const members = (await ddc.clusterNodes(c.id)).map(Number);
      expect(members, `cluster ${c.id}`).to.include(c.spare).and.not.include(c.failing);
      const [event] = await ddc.queryFilter(ddc.filters.ClusterNodeReplaced(c.id, c.failing));
      expect(event, `ClusterNodeReplaced of node ${c.failing}`).to.not.equal(undefined);
      const [, nodes] = await ddc.clusterRing(c.id);
      expect(nodes.map(Number)).to.include(c.spare).and.not.include(c.failing);
      const r = s.replacements.find((x) => x.cluster === c.id)!;
      expect(r).to.deep.include({ node: c.failing, replacements: [c.spare], state: "executed" });
      expect(r.via).to.equal(c.manager);
    }
  });

  it("excludes each failing node from revenue in the eras it failed, and pays it nothing then", async function () {
    for (const c of s.clusters) {
      const events = await ddc.queryFilter(ddc.filters.RevenuesDistributed(c.id));
      const excluded = events.filter((e) => e.args.ineligible.map(Number).includes(c.failing));
      expect(excluded.length, `eras node ${c.failing} was excluded in`).to.be.at.least(POLICY.failingEras);
      for (const e of excluded) {
        const before = await ddc.nodeRevenue(c.failing, { blockTag: e.blockNumber - 1 });
        const after = await ddc.nodeRevenue(c.failing, { blockTag: e.blockNumber });
        expect(after, `node ${c.failing}'s revenue in era ${e.args.era}`).to.equal(before);
      }
      // Before the failure, the node was paid like the others.
      const injected = s.injected.find((i) => i.cluster === c.id)!;
      const healthy = events.filter((e) => Number(e.args.era) < injected.era);
      expect(healthy.length).to.be.greaterThan(0);
      for (const e of healthy) expect(e.args.ineligible.map(Number)).to.not.include(c.failing);
    }
  });

  it("reads every object back intact from the current rings", function () {
    expect(s.objects.written).to.equal(40);
    expect(s.objects.intact).to.equal(s.objects.written);
    expect(lines).to.include(`objects: ${s.objects.written} written, ${s.objects.written} read back intact`);
  });

  it("accounts for every token the core holds, with no failed run, alert or refused report", function () {
    expect(s.conservation.holds).to.equal(true);
    expect(s.problems).to.deep.equal([]);
    for (const p of s.revenue) expect(p.claimable).to.be.greaterThan(0n);
  });
});
