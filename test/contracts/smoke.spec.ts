import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { exampleFixture, MONTH, RENT } from "../helpers/fixtures";

describe("example network (smoke)", function () {
  it("charges a month of rent at the cluster price", async function () {
    const f = await loadFixture(exampleFixture);
    const start = await time.latest();
    await time.increaseTo(BigInt(start) + MONTH);
    await f.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
    const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
    const cluster = await f.ddc.getCluster(f.cluster);
    expect(cluster.price).to.equal(4n * RENT);
    expect(cluster.revenuePool + ledger.balance).to.equal(f.deposit);
    expect(cluster.revenuePool).to.be.closeTo(f.units * 4n * RENT, 100n);
  });
});
