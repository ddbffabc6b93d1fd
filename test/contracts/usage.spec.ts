import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, USD, exampleFixture, type ExampleFixture } from "../helpers/fixtures";
import { rent } from "../helpers/rent";

const EVIDENCE = ethers.id("evidence of era 0");
const ERA = BigInt(CLUSTER_PARAMS.eraLength);

interface UsageFixture extends ExampleFixture {
  operator: ExampleFixture["stranger"];
  bucket2: bigint;
}

/** The example network plus owner 2's bucket (5 units, cap 40) and an operator, one era later. */
async function usageFixture(): Promise<UsageFixture> {
  const f = await exampleFixture();
  const operator = f.others[3];
  await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, operator.address, true);
  await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 500n * USD);
  await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
  await f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 5n);
  await f.ddc.connect(f.owner2).bucketSetCap(2n, 40n);
  await time.increase(ERA);
  return { ...f, operator, bucket2: 2n };
}

describe("clusterReportUsage", function () {
  it("bills max(reservation, measured) within the cap, from now on, and emits the evidence", async function () {
    const f = await loadFixture(usageFixture);
    const before = await f.ddc.getLedger(f.owner2.address, f.cluster);
    const tx = f.ddc.connect(f.operator).clusterReportUsage(f.cluster, 0, [f.bucket, f.bucket2], [4n, 25n], EVIDENCE);
    await expect(tx)
      .to.emit(f.ddc, "UsageReported")
      .withArgs(f.cluster, 0, EVIDENCE, [f.bucket, f.bucket2], [10n, 25n]);
    // Bucket 1 stays at its reservation (10 > 4): nothing to settle. Bucket 2 grows: settled first.
    await expect(tx).to.emit(f.ddc, "LedgerSettled");
    expect((await f.ddc.getBucket(f.bucket)).billed).to.equal(10n);
    const b2 = await f.ddc.getBucket(f.bucket2);
    expect([b2.reserved, b2.measured, b2.billed]).to.deep.equal([5n, 25n, 25n]);
    const after = await f.ddc.getLedger(f.owner2.address, f.cluster);
    expect(after.units).to.equal(25n);
    expect(after.owed).to.equal(0n); // settled at the old units, at the report
    expect(before.units).to.equal(5n);
    expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(35n);
  });

  it("never bills retroactively: rent before the report is at the old units", async function () {
    const f = await loadFixture(usageFixture);
    const t0 = BigInt(await time.latest()) + 10n;
    await time.setNextBlockTimestamp(t0);
    await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]);
    const start = (await f.ddc.getLedger(f.owner2.address, f.cluster)).balance;
    await time.setNextBlockTimestamp(t0 + 1000n);
    await f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket2], [25n], EVIDENCE);
    await time.setNextBlockTimestamp(t0 + 2000n);
    await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]);
    const end = (await f.ddc.getLedger(f.owner2.address, f.cluster)).balance;
    // 5 units until the report, 25 after it (each floor may carry one unit of remainder).
    expect(start - end).to.be.closeTo(rent(5n, 1000n) + rent(25n, 1000n), 1n);
  });

  it("caps billed units at the bucket's cap and lowers them when measured usage falls", async function () {
    const f = await loadFixture(usageFixture);
    await f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket2], [90n], EVIDENCE);
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(40n);
    await time.increase(ERA);
    await f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 1, [f.bucket2], [2n], EVIDENCE);
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(5n); // back to the reservation
    expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).units).to.equal(5n);
  });

  it("records each bucket once per era, in any number of batches, and skips replays with an event", async function () {
    const f = await loadFixture(usageFixture);
    const m = f.ddc.connect(f.manager);
    await time.increase(ERA); // eras 0 and 1 are over
    await m.clusterReportUsage(f.cluster, 0, [f.bucket], [12n], EVIDENCE);
    await m.clusterReportUsage(f.cluster, 0, [f.bucket2], [7n], EVIDENCE); // another batch, same era
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(7n);
    await expect(m.clusterReportUsage(f.cluster, 0, [f.bucket2, f.bucket], [30n, 30n], EVIDENCE))
      .to.emit(f.ddc, "UsageReportSkipped")
      .withArgs(f.cluster, 0, f.bucket2, false, 1)
      .and.to.emit(f.ddc, "UsageReported")
      .withArgs(f.cluster, 0, EVIDENCE, [], []);
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(7n);
    await m.clusterReportUsage(f.cluster, 1, [f.bucket2], [9n], EVIDENCE);
    // Era 0 again, after era 1: skipped, the report names the first era it may be reported for.
    await expect(m.clusterReportUsage(f.cluster, 0, [f.bucket2], [1n], EVIDENCE))
      .to.emit(f.ddc, "UsageReportSkipped")
      .withArgs(f.cluster, 0, f.bucket2, false, 2);
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(9n);
  });

  it("skips a closed bucket with an event and records the rest of the batch", async function () {
    const f = await loadFixture(usageFixture);
    await f.ddc.connect(f.owner2).bucketClose(f.bucket2);
    await f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 20n);
    await expect(f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket2, f.bucket], [30n, 11n], EVIDENCE))
      .to.emit(f.ddc, "UsageReportSkipped")
      .withArgs(f.cluster, 0, f.bucket2, true, 0)
      .and.to.emit(f.ddc, "UsageReported")
      .withArgs(f.cluster, 0, EVIDENCE, [f.bucket], [11n]);
    expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(11n);
  });

  it("reverts with ClusterEraNotClosed for the current era", async function () {
    const f = await loadFixture(usageFixture);
    const [era] = await f.ddc.clusterEra(f.cluster);
    await expect(f.ddc.connect(f.manager).clusterReportUsage(f.cluster, era, [f.bucket], [1n], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "ClusterEraNotClosed")
      .withArgs(f.cluster, era, era);
  });

  it("reverts with ClusterNotOperator for anyone but the manager and its operators", async function () {
    const f = await loadFixture(usageFixture);
    for (const who of [f.stranger, f.owner1, f.provider1, f.governor]) {
      await expect(f.ddc.connect(who).clusterReportUsage(f.cluster, 0, [f.bucket], [1n], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotOperator")
        .withArgs(f.cluster, who.address);
    }
  });

  it("refuses the manager of another cluster, and operators cleared by a handover", async function () {
    const f = await loadFixture(usageFixture);
    await f.ddc.connect(f.stranger).clusterCreate(f.stranger.address, CLUSTER_PARAMS, GIB);
    await expect(f.ddc.connect(f.stranger).clusterReportUsage(f.cluster, 0, [f.bucket], [1n], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "ClusterNotOperator")
      .withArgs(f.cluster, f.stranger.address);
    await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address);
    await f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster);
    await expect(f.ddc.connect(f.operator).clusterReportUsage(f.cluster, 0, [f.bucket], [1n], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "ClusterNotOperator")
      .withArgs(f.cluster, f.operator.address);
  });

  it("reverts the whole batch on a bucket of another cluster or an unknown bucket", async function () {
    const f = await loadFixture(usageFixture);
    await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
    await f.ddc.connect(f.owner1).bucketCreate(2n, "");
    await expect(f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket2, 3n], [30n, 1n], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "BucketNotInCluster")
      .withArgs(3n, f.cluster);
    await expect(f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket2, 99n], [30n, 1n], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "BucketNotFound")
      .withArgs(99n);
    expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(5n);
  });

  it("reverts with DDCLengthMismatch and DDCBatchTooLarge", async function () {
    const f = await loadFixture(usageFixture);
    await expect(f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket], [], EVIDENCE))
      .to.be.revertedWithCustomError(f.ddc, "DDCLengthMismatch")
      .withArgs(1n, 0n);
    const many = Array.from({ length: 301 }, () => f.bucket);
    await expect(
      f.ddc.connect(f.manager).clusterReportUsage(
        f.cluster,
        0,
        many,
        many.map(() => 1n),
        EVIDENCE,
      ),
    )
      .to.be.revertedWithCustomError(f.ddc, "DDCBatchTooLarge")
      .withArgs(301n, 300n);
  });

  it("keeps the core's tokens equal to ledgers and pools", async function () {
    const f = await loadFixture(usageFixture);
    await f.ddc.connect(f.manager).clusterReportUsage(f.cluster, 0, [f.bucket, f.bucket2], [33n, 38n], EVIDENCE);
    await time.increase(3n * 86_400n);
    await f.ddc.bucketSettlePayment(f.cluster, [f.bucket, f.bucket2]);
    const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
    const l1 = (await f.ddc.getLedger(f.owner1.address, f.cluster)).balance;
    const l2 = (await f.ddc.getLedger(f.owner2.address, f.cluster)).balance;
    expect(await f.token.balanceOf(f.coreAddress)).to.equal(pool + l1 + l2);
  });
});
