import { expect } from "chai";
import { runExampleNetwork } from "../../scripts/exampleNetwork";

const MONTH = 30n * 24n * 3600n;

describe("the seed's example network (integration)", function () {
  it("charges exactly the price index over the bucket's life, and every unit is accounted for", async function () {
    const r = await runExampleNetwork();
    expect(r.price).to.equal(4_000_000n); // four vNodes at 1 tUSD each
    // The price never changed and the units never changed, so everything ever charged is one
    // floor over the whole life (k settlements pay what one would).
    const charged = (r.units * r.price * (r.lastSettlement - r.start)) / MONTH;
    expect(r.ledger.debt).to.equal(0n);
    expect(r.pool).to.equal(charged);
    expect(r.ledger.balance).to.equal(r.deposited - r.withdrawn - charged);
    expect(r.coreBalance).to.equal(r.pool + r.ledger.balance);
    expect(r.withdrawn).to.equal(900_000_000n);
  });

  it("derives the statuses from the ledger: active, in arrears, suspended after the grace period, active again", async function () {
    const r = await runExampleNetwork();
    expect(r.statuses).to.deep.equal(["Active", "InArrears", "Suspended", "Active"]);
  });

  it("puts the start of arrears at the exact second the balance ran out", async function () {
    const r = await runExampleNetwork();
    // Before the withdrawal the ledger had paid for [start, withdrawal]; what was left after the
    // withdrawal lasts until the cumulative charge first exceeds deposit - withdrawn.
    const budget = 1_000_000_000n - r.withdrawn;
    const perSecondScaled = r.units * r.price; // charge = floor(perSecondScaled × t / MONTH)
    const t = (budget + 1n) * MONTH; // first t with perSecondScaled × t ≥ (budget + 1) × MONTH
    const seconds = (t + perSecondScaled - 1n) / perSecondScaled;
    expect(r.arrearsSince).to.equal(r.start + seconds);
  });
});
