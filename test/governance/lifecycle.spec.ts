import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Provider } from "ethers";
import { distribution, toProposal } from "../../governance/actions";
import {
  executeById,
  getLogsPaged,
  listProposals,
  proposalDetails,
  proposalState,
  proposeOnce,
  queueById,
  vote,
} from "../../governance/dao";
import { daoClusterFixture } from "../helpers/system";

const EVIDENCE = ethers.id("era 3 evidence");

/** A provider that refuses log queries over more than `max` blocks, as live RPC nodes do. */
function limited(provider: Provider, max: number, seen: number[]): Provider {
  return new Proxy(provider, {
    get(target, prop, receiver) {
      if (prop === "getLogs") {
        return async (filter: { fromBlock: number; toBlock: number }) => {
          const span = filter.toBlock - filter.fromBlock + 1;
          seen.push(span);
          if (span > max) throw new Error(`query exceeds max block range ${max}`);
          return target.getLogs(filter);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

describe("governance: the Governor lifecycle", function () {
  it("proposes once: the same proposal, or the same calls under the same action key, is not proposed again; other calls under the key do not block it", async function () {
    const f = await loadFixture(daoClusterFixture);
    const governor = f.system.governor.connect(f.bot);
    const action = distribution(f.core, { cluster: f.cluster, era: 3n, ineligible: [], evidenceHash: EVIDENCE });
    const args = toProposal(action, f.bot.address);
    const first = await proposeOnce(governor, args);
    expect(first.created).to.equal(true);
    expect(await proposeOnce(governor, args)).to.deep.equal({ id: first.id, created: false, reason: "exists" });
    // The same calls worded for anyone (no #proposer): the same decision, not proposed.
    const shared = toProposal(action);
    expect(await proposeOnce(governor, shared)).to.deep.equal({
      id: first.id,
      created: false,
      reason: "same action key",
    });
    // Other calls under the same key (anyone can write any key) do not stand for this decision.
    const other = toProposal(
      distribution(f.core, { cluster: f.cluster, era: 3n, ineligible: [f.nodes[0]], evidenceHash: ethers.id("x") }),
    );
    const planted = await proposeOnce(f.system.governor.connect(f.voters[1]), other);
    expect(planted.created).to.equal(true);
    expect(await proposeOnce(governor, shared)).to.deep.equal({
      id: first.id,
      created: false,
      reason: "same action key",
    });
    expect((await listProposals(governor)).filter((p) => p.description.includes("kind=distribution"))).to.have.length(
      2,
    );
    // Once the first is defeated, the decision may be proposed again.
    await time.increase(f.params.governance.votingDelay + 1);
    for (const v of f.voters) await vote(f.system.governor.connect(v), first.id, "against");
    await time.increase(f.params.governance.votingPeriod);
    expect(await proposalState(governor, first.id)).to.equal("Defeated");
    const again = await proposeOnce(governor, shared);
    expect(again.created).to.equal(true);
    expect(again.id).to.not.equal(first.id);
  });

  it("votes with a reason, queues and executes by id, and shows the proposal with its key and evidence", async function () {
    const f = await loadFixture(daoClusterFixture);
    const governor = f.system.governor.connect(f.bot);
    await time.increase(86_400);
    await f.system.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
    const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
    const action = distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE });
    const { id } = await proposeOnce(governor, toProposal(action, f.bot.address));
    await time.increase(f.params.governance.votingDelay + 1);
    await expect(vote(f.system.governor.connect(f.voters[0]), id, "for", "the evidence checks out")).to.not.be.rejected;
    const events = await f.system.governor.queryFilter(f.system.governor.filters.VoteCast(f.voters[0].address));
    const mine = events.filter((e) => e.args.proposalId === id);
    expect(mine.map((e) => [e.args.proposalId, e.args.support, e.args.reason])).to.deep.equal([
      [id, 1n, "the evidence checks out"],
    ]);
    await vote(f.system.governor.connect(f.voters[1]), id, "abstain");
    await time.increase(f.params.governance.votingPeriod);
    await queueById(f.system.governor, id);
    expect(await proposalState(governor, id)).to.equal("Queued");
    await time.increase(f.params.governance.timelockDelay);
    await executeById(f.system.governor, id);
    const details = await proposalDetails(governor, id);
    expect(details.state).to.equal("Executed");
    expect(details.key).to.deep.equal({ cluster: f.cluster, era, kind: "distribution" });
    expect(details.evidenceHash).to.equal(EVIDENCE);
    expect(details.votes).to.deep.equal({
      against: 0n,
      for: ethers.parseEther("100000"),
      abstain: ethers.parseEther("50000"),
    });
    expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(era + 1n);
    await expect(queueById(f.system.governor, 12345n)).to.be.rejectedWith("no proposal 12345 on this Governor");
  });

  it("reads logs in pages, halving the page when the RPC node refuses the range", async function () {
    const f = await loadFixture(daoClusterFixture);
    const provider = ethers.provider;
    const to = await provider.getBlockNumber();
    const filter = { address: await f.system.governor.getAddress() };
    const all = await getLogsPaged(provider, filter, 0, to);
    expect(all.length).to.be.greaterThan(0);
    const seen: number[] = [];
    const paged = await getLogsPaged(limited(provider, 7, seen), filter, 0, to, { step: 64 });
    expect(paged.map((l) => [l.blockNumber, l.index])).to.deep.equal(all.map((l) => [l.blockNumber, l.index]));
    expect(seen.slice(0, 4)).to.deep.equal([64, 32, 16, 8]);
    expect(Math.max(...seen.slice(4))).to.be.at.most(7);
    // Any other error is not a range problem: it propagates.
    const broken = new Proxy(provider, {
      get: (t, p, r) =>
        p === "getLogs" ? async () => Promise.reject(new Error("connection refused")) : Reflect.get(t, p, r),
    });
    await expect(getLogsPaged(broken, filter, 0, to)).to.be.rejectedWith("connection refused");
  });

  it("retries a page that failed for a transient reason (a rate limit), and halves one refused for its size even with the rate limit's code", async function () {
    const f = await loadFixture(daoClusterFixture);
    const provider = ethers.provider;
    const to = await provider.getBlockNumber();
    const filter = { address: await f.system.governor.getAddress() };
    const all = await getLogsPaged(provider, filter, 0, to);
    const calls: string[] = [];
    let failures = 2;
    const flaky = new Proxy(provider, {
      get: (t, p, r) =>
        p === "getLogs"
          ? async (q: { fromBlock: number; toBlock: number }) => {
              const span = q.toBlock - q.fromBlock + 1;
              if (span > 64) {
                calls.push(`size ${span}`);
                // Infura's answer for too many results carries -32005, the code of its rate limit too.
                throw Object.assign(new Error("query returned more than 10000 results"), { code: -32005 });
              }
              if (failures-- > 0) {
                calls.push("rate limit");
                throw Object.assign(new Error("daily request count exceeded, request rate limited"), { code: -32005 });
              }
              calls.push(`ok ${span}`);
              return t.getLogs(q);
            }
          : Reflect.get(t, p, r),
    });
    const got = await getLogsPaged(flaky, filter, 0, to, { step: 128 });
    expect(got.map((l) => [l.blockNumber, l.index])).to.deep.equal(all.map((l) => [l.blockNumber, l.index]));
    expect(to + 1).to.be.greaterThan(64);
    expect(calls.slice(0, 4)).to.deep.equal([`size ${Math.min(128, to + 1)}`, "rate limit", "rate limit", "ok 64"]);
  });
});
