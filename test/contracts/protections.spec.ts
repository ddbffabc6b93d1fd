import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, NODE_PARAMS, RENT, USD, exampleFixture, type ExampleFixture } from "../helpers/fixtures";

/** Owners' protections: eviction of unpaid buckets, price limits, the price cap and notice floor. */
const DAY = 86_400n;
const Status = { Active: 1n, InArrears: 2n, Suspended: 3n, Closed: 4n };

/** Owner 2 holds bucket 2 (10 units) with only the runway deposited: it runs out in a week. */
async function shortFixture(): Promise<ExampleFixture & { bucket2: bigint }> {
  const f = await exampleFixture();
  const runway = (await f.ddc.getCluster(f.cluster)).price * 10n * 7n * DAY;
  await f.ddc.connect(f.owner2).accountDeposit(f.cluster, (runway + 30n * DAY - 1n) / (30n * DAY));
  await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
  await f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n);
  return { ...f, bucket2: 2n };
}

describe("owners' protections", function () {
  describe("bucketEvict", function () {
    it("lets anyone close a Suspended bucket: capacity returns to the cluster, the debt stays", async function () {
      const f = await loadFixture(shortFixture);
      await time.increase(7n * DAY + 7n * DAY + 10n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
      const allocated = (await f.ddc.getCluster(f.cluster)).allocated;
      await expect(f.ddc.connect(f.stranger).bucketEvict(f.bucket2))
        .to.emit(f.ddc, "BucketEvicted")
        .withArgs(f.bucket2, f.stranger.address, 10n)
        .and.to.emit(f.ddc, "BucketClosed")
        .withArgs(f.bucket2, 10n);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(allocated - 10n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Closed);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.units).to.equal(0n);
      expect(ledger.debt).to.be.greaterThan(0n);
      // No more rent accrues on the evicted bucket: the debt is frozen.
      await time.increase(30n * DAY);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).debt).to.equal(ledger.debt);
    });

    it("reverts with BucketNotSuspended while the bucket is Active or only InArrears, and BucketNotFound", async function () {
      const f = await loadFixture(shortFixture);
      await expect(f.ddc.bucketEvict(f.bucket2))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotSuspended")
        .withArgs(f.bucket2, Status.Active);
      await time.increase(7n * DAY + 10n);
      await expect(f.ddc.bucketEvict(f.bucket2))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotSuspended")
        .withArgs(f.bucket2, Status.InArrears);
      await expect(f.ddc.bucketEvict(99n)).to.be.revertedWithCustomError(f.ddc, "BucketNotFound").withArgs(99n);
    });

    it("cannot evict a closed bucket", async function () {
      const f = await loadFixture(shortFixture);
      await f.ddc.connect(f.owner2).bucketClose(f.bucket2);
      await expect(f.ddc.bucketEvict(f.bucket2))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotSuspended")
        .withArgs(f.bucket2, Status.Closed);
    });
  });

  describe("bucketAllocWithMaxPrice", function () {
    it("allocates when the price the cluster heads to is within the limit", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner1).bucketAllocWithMaxPrice(f.bucket, 12n, 4n * RENT))
        .to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.bucket, 12n, 12n, 12n);
    });

    it("reverts with LedgerPriceAboveLimit when the manager raised the price first", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.others[4].address, 1000n, RENT, NODE_PARAMS);
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [77n]); // heads to 5 RENT
      await expect(f.ddc.connect(f.owner1).bucketAllocWithMaxPrice(f.bucket, 12n, 4n * RENT))
        .to.be.revertedWithCustomError(f.ddc, "LedgerPriceAboveLimit")
        .withArgs(f.cluster, 5n * RENT, 4n * RENT);
    });
  });

  describe("price cap and notice floor", function () {
    it("reverts with ClusterPriceTooHigh past 2^80 per unit-month", async function () {
      const f = await loadFixture(exampleFixture);
      const max = 1n << 80n;
      await f.ddc.connect(f.provider1).nodeCreate(f.others[4].address, 1000n, max, NODE_PARAMS);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [77n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterPriceTooHigh")
        .withArgs(f.cluster, max + 4n * RENT, max);
    });

    it("makes an increase wait at least a day even when the notice and the unlock delay are 0", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.governor).setUnlockDelay(0);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, priceNotice: 0 });
      await f.ddc.connect(f.provider1).nodeCreate(f.others[4].address, 1000n, RENT, NODE_PARAMS);
      const t = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [77n]))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 5n * RENT, t + DAY);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(4n * RENT);
    });
  });

  describe("clusterChangeParams", function () {
    it("reverts with ClusterBelowReplication when raising the replication factor past the nodes of an allocated cluster", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 3 }))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 2n, 3n);
    });
  });

  describe("a deposit into a ledger that ran out unnoticed", function () {
    it("records the arrears from when the balance ran out, as a settlement first would have", async function () {
      const settledFirst = await loadFixture(shortFixture);
      await time.increase(7n * DAY + 3n * DAY);
      const ranOut = (await settledFirst.ddc.getLedger(settledFirst.owner2.address, settledFirst.cluster)).arrearsSince;
      expect(ranOut).to.be.greaterThan(0n);
      // A small deposit (less than the debt) keeps the ledger in arrears since the same second.
      await settledFirst.ddc.connect(settledFirst.owner2).accountDeposit(settledFirst.cluster, USD / 10n);
      const after = await settledFirst.ddc.getLedger(settledFirst.owner2.address, settledFirst.cluster);
      expect(after.arrearsSince).to.equal(ranOut);
      expect(after.balance).to.equal(0n);
      expect(after.debt).to.be.greaterThan(0n);
      expect(await settledFirst.ddc.bucketStatus(settledFirst.bucket2)).to.equal(Status.InArrears);

      // The same with a batch settlement before the deposit gives the same figures.
      const f = await loadFixture(shortFixture);
      await time.increase(7n * DAY + 3n * DAY - 1n);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, USD / 10n);
      const other = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(other.arrearsSince).to.equal(after.arrearsSince);
      expect(other.debt).to.equal(after.debt);
    });
  });

  it("keeps tokens and accounts equal through all of the above", async function () {
    const f = await loadFixture(shortFixture);
    await time.increase(20n * DAY);
    await f.ddc.connect(f.stranger).bucketEvict(f.bucket2);
    await f.ddc.connect(f.owner2).accountDeposit(f.cluster, USD);
    const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
    const l1 = (await f.ddc.getLedger(f.owner1.address, f.cluster)).balance;
    const l2 = (await f.ddc.getLedger(f.owner2.address, f.cluster)).balance;
    expect(await f.token.balanceOf(f.coreAddress)).to.equal(pool + l1 + l2);
  });
});
