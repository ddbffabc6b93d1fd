import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse } from "ethers";
import { CLUSTER_PARAMS, GIB, MONTH, RENT, USD, exampleFixture, type ExampleFixture } from "../helpers/fixtures";
import { rent, runOutAfter, runway } from "../helpers/rent";

// ───────────────────────────────────────── helpers ──────────────────────────────────────────

const Role = { Writer: 0, Reader: 1 } as const;
const Status = { None: 0n, Active: 1n, InArrears: 2n, Suspended: 3n, Closed: 4n } as const;

/** Cluster 1 of the example: four vNodes at 1 tUSD each. */
const PRICE = 4n * RENT;
/** The example's grace period (7 days). */
const GRACE = 7n * 24n * 60n * 60n;
/** Reserved units per vNode in cluster 1 of the example. */
const RESERVATION = 100n;

/** The timestamp of the block that mined `pending`. */
async function minedAt(pending: Promise<ContractTransactionResponse>): Promise<bigint> {
  const tx = await pending;
  const receipt = await tx.wait();
  if (receipt === null) throw new Error("no receipt");
  const block = await ethers.provider.getBlock(receipt.blockNumber);
  if (block === null) throw new Error("no block");
  return BigInt(block.timestamp);
}

interface ArrearsFixture extends ExampleFixture {
  /** owner2's bucket in cluster 1: 10 units on a 10 tUSD deposit. */
  bucket2: bigint;
  /** When bucket 2 was allocated (owner2's ledger checkpoint, remainder 0). */
  allocatedAt: bigint;
  /** The first second at which owner2's balance no longer covers the rent. */
  runOut: bigint;
}

const SMALL_DEPOSIT = 10n * USD;

/** The example plus owner2 with a 10-unit bucket on a deposit that runs out in ~7.5 days. */
async function arrearsFixture(): Promise<ArrearsFixture> {
  const f = await exampleFixture();
  await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
  const bucket2 = 2n;
  await f.ddc.connect(f.owner2).accountDeposit(f.cluster, SMALL_DEPOSIT);
  const allocatedAt = await minedAt(f.ddc.connect(f.owner2).bucketAllocIntoCluster(bucket2, 10n));
  return { ...f, bucket2, allocatedAt, runOut: allocatedAt + runOutAfter(SMALL_DEPOSIT, 10n) };
}

// ───────────────────────────────────────── tests ────────────────────────────────────────────

describe("buckets", function () {
  describe("bucketCreate", function () {
    it("numbers buckets from 1 in creation order, owned by the caller in the given cluster", async function () {
      const f = await loadFixture(exampleFixture);
      expect(await f.ddc.bucketCount()).to.equal(1n);
      expect(await f.ddc.connect(f.owner2).bucketCreate.staticCall(f.cluster, "")).to.equal(2n);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner1).bucketCreate(f.cluster, "");
      expect(await f.ddc.bucketCount()).to.equal(3n);
      const b2 = await f.ddc.getBucket(2n);
      expect(b2.id).to.equal(2n);
      expect(b2.owner).to.equal(f.owner2.address);
      expect(b2.cluster).to.equal(f.cluster);
      expect(b2.closed).to.equal(false);
      expect([b2.reserved, b2.measured, b2.billed, b2.cap]).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(b2.status).to.equal(Status.Active);
      expect((await f.ddc.getBucket(3n)).owner).to.equal(f.owner1.address);
    });

    it("emits BucketCreated with the id, owner, cluster and params", async function () {
      const f = await loadFixture(exampleFixture);
      const params = '{"engine":"ddc-storage","replicas":3}';
      await expect(f.ddc.connect(f.owner2).bucketCreate(f.cluster, params))
        .to.emit(f.ddc, "BucketCreated")
        .withArgs(2n, f.owner2.address, f.cluster, params);
    });

    it("reverts with ClusterNotFound for an unknown cluster", async function () {
      const f = await loadFixture(exampleFixture);
      for (const cluster of [0n, 2n, 99n]) {
        await expect(f.ddc.connect(f.owner2).bucketCreate(cluster, ""))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
          .withArgs(cluster);
      }
      expect(await f.ddc.bucketCount()).to.equal(1n);
    });

    it("reverts with EnforcedPause while paused", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      await expect(f.ddc.connect(f.owner2).bucketCreate(f.cluster, "")).to.be.revertedWithCustomError(
        f.core,
        "EnforcedPause",
      );
    });
  });

  describe("bucketAllocIntoCluster", function () {
    it("reserves the units, raises the cap to them, bills them and counts them in the cluster and ledger", async function () {
      const f = await loadFixture(exampleFixture);
      const b = await f.ddc.getBucket(f.bucket);
      expect([b.reserved, b.cap, b.billed]).to.deep.equal([10n, 10n, 10n]);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(10n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).units).to.equal(10n);

      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 25n))
        .to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.bucket, 25n, 25n, 25n);
      const after = await f.ddc.getBucket(f.bucket);
      expect([after.reserved, after.cap, after.billed]).to.deep.equal([25n, 25n, 25n]);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(25n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).units).to.equal(25n);
    });

    it("keeps a cap that is already above the units", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 50n);
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 20n))
        .to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.bucket, 20n, 50n, 20n);
      const b = await f.ddc.getBucket(f.bucket);
      expect([b.reserved, b.cap, b.billed]).to.deep.equal([20n, 50n, 20n]);
    });

    it("settles the ledger first (LedgerSettled), then bills the new units from that moment", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest()); // the fixture's allocation: the ledger's checkpoint
      await time.setNextBlockTimestamp(t0 + 1000n);
      const paid = rent(10n, 1000n);
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 12n))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner1.address, f.cluster, paid, 0n)
        .and.to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.bucket, 12n, 12n, 12n);
      expect(paid).to.equal(15_432n);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(paid);

      const remainder = (10n * PRICE * 1000n) % MONTH;
      await time.increaseTo(t0 + 1500n);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.balance).to.equal(f.deposit - paid);
      expect(ledger.owed).to.equal((12n * PRICE * 500n + remainder) / MONTH);
    });

    it("shrinking lowers the billed units and frees cluster capacity for others", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 4n);
      const b = await f.ddc.getBucket(f.bucket);
      expect([b.reserved, b.cap, b.billed]).to.deep.equal([4n, 10n, 4n]);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(4n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).units).to.equal(4n);

      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 100n * USD);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 97n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterCapacityExceeded")
        .withArgs(f.cluster, RESERVATION, 101n);
      await f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 96n);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(RESERVATION);
    });

    it("shrinking needs no runway: it works for a ledger in debt", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.setNextBlockTimestamp(f.runOut + 1000n);
      const debt = rent(10n, f.runOut + 1000n - f.allocatedAt) - SMALL_DEPOSIT;
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(f.bucket2, 3n))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner2.address, f.cluster, SMALL_DEPOSIT, debt);
      expect((await f.ddc.getBucket(f.bucket2)).billed).to.equal(3n);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).units).to.equal(3n);
    });

    it("reverts with ClusterCapacityExceeded(cluster, reserved, required) past the reservation", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, RESERVATION + 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterCapacityExceeded")
        .withArgs(f.cluster, RESERVATION, RESERVATION + 1n);
      await f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, RESERVATION);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(RESERVATION);
    });

    it("reverts with ClusterBelowReplication(cluster, nodes, replicationFactor) below the replication factor", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      const cluster2 = 2n;
      await f.ddc.connect(f.owner2).bucketCreate(cluster2, "");
      const bucket = 2n;
      await f.ddc.connect(f.owner2).accountDeposit(cluster2, 100n * USD);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(bucket, 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(cluster2, 0n, CLUSTER_PARAMS.replicationFactor);
      await f.ddc.connect(f.manager).clusterAddNode(cluster2, f.node1, [5n]);
      await f.ddc.connect(f.manager).clusterReserveResource(cluster2, 10n);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(bucket, 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(cluster2, 1n, CLUSTER_PARAMS.replicationFactor);
      await f.ddc.connect(f.manager).clusterAddNode(cluster2, f.node2, [6n]);
      await f.ddc.connect(f.owner2).bucketAllocIntoCluster(bucket, 1n);
      expect((await f.ddc.getCluster(cluster2)).allocated).to.equal(1n);
    });

    it("reverts with LedgerInsufficientRunway(owner, cluster, balance, runway) one unit below the runway", async function () {
      const f = await loadFixture(exampleFixture);
      const required = runway(10n);
      expect(required).to.equal(9_333_334n);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, required - 1n);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientRunway")
        .withArgs(f.owner2.address, f.cluster, required - 1n, required);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n);
      await f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n);
      expect((await f.ddc.getBucket(2n)).billed).to.equal(10n);
    });

    it("counts the ledger's other buckets in the runway", async function () {
      const f = await loadFixture(exampleFixture);
      // owner1 already bills 10 units; a second bucket of 90 needs the runway of 100 units.
      await f.ddc.connect(f.owner1).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner1).bucketAllocIntoCluster(2n, 90n);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.units).to.equal(100n);
      expect(ledger.runway).to.equal(runway(100n));
    });

    it("reverts with LedgerInsufficientRunway with 0 available while the ledger is in debt", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.increaseTo(f.runOut + 10n);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n); // far less than the debt
      // The allocation settles first: the debt is recorded and the balance is 0.
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(f.bucket2, 11n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientRunway")
        .withArgs(f.owner2.address, f.cluster, 0n, runway(11n));
    });

    it("reverts with BucketNotOwner for another owner's bucket", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.stranger).bucketAllocIntoCluster(f.bucket, 5n))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotOwner")
        .withArgs(f.bucket, f.stranger.address);
    });

    it("reverts with BucketIsClosed for a closed bucket", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 5n))
        .to.be.revertedWithCustomError(f.ddc, "BucketIsClosed")
        .withArgs(f.bucket);
    });

    it("reverts with EnforcedPause while paused", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 5n)).to.be.revertedWithCustomError(
        f.core,
        "EnforcedPause",
      );
    });
  });

  describe("bucketSetCap", function () {
    it("sets the cap without changing the reservation or the billed units", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 50n))
        .to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.bucket, 10n, 50n, 10n);
      const b = await f.ddc.getBucket(f.bucket);
      expect([b.reserved, b.cap, b.billed]).to.deep.equal([10n, 50n, 10n]);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(10n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).units).to.equal(10n);
    });

    it("settles the ledger first", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest());
      await time.setNextBlockTimestamp(t0 + 86_400n);
      await expect(f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 30n))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner1.address, f.cluster, rent(10n, 86_400n), 0n);
    });

    it("accepts a cap equal to the reservation and reverts with BucketCapBelowReservation below it", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 40n);
      await f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 10n);
      expect((await f.ddc.getBucket(f.bucket)).cap).to.equal(10n);
      await expect(f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 9n))
        .to.be.revertedWithCustomError(f.ddc, "BucketCapBelowReservation")
        .withArgs(f.bucket, 9n, 10n);
    });

    it("reverts with BucketNotOwner and BucketIsClosed", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner2).bucketSetCap(f.bucket, 20n))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotOwner")
        .withArgs(f.bucket, f.owner2.address);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await expect(f.ddc.connect(f.owner1).bucketSetCap(f.bucket, 20n))
        .to.be.revertedWithCustomError(f.ddc, "BucketIsClosed")
        .withArgs(f.bucket);
    });
  });

  describe("bucketGrant / bucketRevoke / bucketHasRole", function () {
    it("the owner holds both roles implicitly; others hold none", async function () {
      const f = await loadFixture(exampleFixture);
      expect(await f.ddc.bucketHasRole(f.bucket, f.owner1.address, Role.Writer)).to.equal(true);
      expect(await f.ddc.bucketHasRole(f.bucket, f.owner1.address, Role.Reader)).to.equal(true);
      expect(await f.ddc.bucketHasRole(f.bucket, f.stranger.address, Role.Writer)).to.equal(false);
      expect(await f.ddc.bucketHasRole(f.bucket, f.stranger.address, Role.Reader)).to.equal(false);
    });

    it("grants Writer and Reader independently, with events", async function () {
      const f = await loadFixture(exampleFixture);
      const account = f.stranger.address;
      await expect(f.ddc.connect(f.owner1).bucketGrant(f.bucket, account, Role.Writer))
        .to.emit(f.ddc, "BucketRoleGranted")
        .withArgs(f.bucket, account, Role.Writer);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Writer)).to.equal(true);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Reader)).to.equal(false);

      await expect(f.ddc.connect(f.owner1).bucketGrant(f.bucket, account, Role.Reader))
        .to.emit(f.ddc, "BucketRoleGranted")
        .withArgs(f.bucket, account, Role.Reader);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Reader)).to.equal(true);

      await expect(f.ddc.connect(f.owner1).bucketRevoke(f.bucket, account, Role.Writer))
        .to.emit(f.ddc, "BucketRoleRevoked")
        .withArgs(f.bucket, account, Role.Writer);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Writer)).to.equal(false);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Reader)).to.equal(true);

      await f.ddc.connect(f.owner1).bucketRevoke(f.bucket, account, Role.Reader);
      expect(await f.ddc.bucketHasRole(f.bucket, account, Role.Reader)).to.equal(false);
    });

    it("keeps roles per bucket", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner1).bucketGrant(f.bucket, f.stranger.address, Role.Reader);
      expect(await f.ddc.bucketHasRole(2n, f.stranger.address, Role.Reader)).to.equal(false);
      expect(await f.ddc.bucketHasRole(f.bucket, f.stranger.address, Role.Reader)).to.equal(true);
    });

    it('reverts with DDCZeroAddress("account") for a grant to the zero address', async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner1).bucketGrant(f.bucket, ethers.ZeroAddress, Role.Writer))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(ethers.encodeBytes32String("account"));
    });

    it("reverts with BucketNotOwner for grant and revoke by anyone but the owner, a Writer included", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketGrant(f.bucket, f.stranger.address, Role.Writer);
      await expect(f.ddc.connect(f.stranger).bucketGrant(f.bucket, f.owner2.address, Role.Reader))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotOwner")
        .withArgs(f.bucket, f.stranger.address);
      await expect(f.ddc.connect(f.stranger).bucketRevoke(f.bucket, f.stranger.address, Role.Writer))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotOwner")
        .withArgs(f.bucket, f.stranger.address);
    });

    it("reverts with BucketIsClosed for a grant on a closed bucket; a revoke still works", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).bucketGrant(f.bucket, f.stranger.address, Role.Reader);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await expect(f.ddc.connect(f.owner1).bucketGrant(f.bucket, f.stranger.address, Role.Writer))
        .to.be.revertedWithCustomError(f.ddc, "BucketIsClosed")
        .withArgs(f.bucket);
      await f.ddc.connect(f.owner1).bucketRevoke(f.bucket, f.stranger.address, Role.Reader);
      expect(await f.ddc.bucketHasRole(f.bucket, f.stranger.address, Role.Reader)).to.equal(false);
    });
  });

  describe("bucketClose", function () {
    it("settles, frees the billed units and marks the bucket Closed", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest());
      await time.setNextBlockTimestamp(t0 + 5000n);
      const paid = rent(10n, 5000n);
      await expect(f.ddc.connect(f.owner1).bucketClose(f.bucket))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner1.address, f.cluster, paid, 0n)
        .and.to.emit(f.ddc, "BucketClosed")
        .withArgs(f.bucket, 10n);
      const b = await f.ddc.getBucket(f.bucket);
      expect(b.closed).to.equal(true);
      expect(b.status).to.equal(Status.Closed);
      expect(await f.ddc.bucketStatus(f.bucket)).to.equal(Status.Closed);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(0n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).units).to.equal(0n);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(paid);
    });

    it("stops accrual: no rent after the close", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest());
      await time.setNextBlockTimestamp(t0 + 5000n);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      const paid = rent(10n, 5000n);
      await time.increaseTo(t0 + 5000n + MONTH);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.owed).to.equal(0n);
      expect(ledger.balance).to.equal(f.deposit - paid);
      await expect(f.ddc.bucketSettlePayment(f.cluster, [f.bucket]))
        .to.emit(f.ddc, "PaymentsSettled")
        .withArgs(f.cluster, 0n, ethers.solidityPacked(["uint64", "uint112", "uint112"], [f.bucket, 0n, 0n]));
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(paid);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(f.deposit - paid);
    });

    it("keeps charging the owner's other open buckets only", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest());
      await f.ddc.connect(f.owner1).bucketCreate(f.cluster, "");
      const t1 = await minedAt(f.ddc.connect(f.owner1).bucketAllocIntoCluster(2n, 3n));
      const closedAt = await minedAt(f.ddc.connect(f.owner1).bucketClose(f.bucket));
      // The remainder below one token unit is carried over the close.
      const remainder = (10n * PRICE * (t1 - t0) + 13n * PRICE * (closedAt - t1)) % MONTH;
      await time.increaseTo(closedAt + 10_000n);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.units).to.equal(3n);
      expect(ledger.owed).to.equal((3n * PRICE * 10_000n + remainder) / MONTH);
      expect(await f.ddc.bucketStatus(2n)).to.equal(Status.Active);
    });

    it("frees the runway: everything becomes free", async function () {
      const f = await loadFixture(exampleFixture);
      const t0 = BigInt(await time.latest());
      await time.increaseTo(t0 + 100n);
      expect(await f.ddc.accountFreeBalance(f.owner1.address, f.cluster)).to.equal(
        f.deposit - rent(10n, 100n) - runway(10n),
      );
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.runway).to.equal(0n);
      expect(ledger.free).to.equal(ledger.balance);
      expect(await f.ddc.accountFreeBalance(f.owner1.address, f.cluster)).to.equal(ledger.balance);
    });

    it("frees cluster capacity for other buckets", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1000n * USD);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, RESERVATION))
        .to.be.revertedWithCustomError(f.ddc, "ClusterCapacityExceeded")
        .withArgs(f.cluster, RESERVATION, RESERVATION + 10n);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, RESERVATION);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(RESERVATION);
    });

    it("reverts with BucketIsClosed on a second close and BucketNotOwner for others", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.stranger).bucketClose(f.bucket))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotOwner")
        .withArgs(f.bucket, f.stranger.address);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await expect(f.ddc.connect(f.owner1).bucketClose(f.bucket))
        .to.be.revertedWithCustomError(f.ddc, "BucketIsClosed")
        .withArgs(f.bucket);
    });
  });

  describe("bucketStatus", function () {
    it("is Active while the balance covers the rent and InArrears from the exact second it runs out", async function () {
      const f = await loadFixture(arrearsFixture);
      expect(f.runOut - f.allocatedAt).to.equal(648_001n);
      await time.increaseTo(f.runOut - 1n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Active);
      expect((await f.ddc.getBucket(f.bucket2)).status).to.equal(Status.Active);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).owed).to.equal(SMALL_DEPOSIT);
      await time.increaseTo(f.runOut);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.InArrears);
      expect((await f.ddc.getBucket(f.bucket2)).status).to.equal(Status.InArrears);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(f.runOut);
      // Another owner's ledger in the same cluster is not affected.
      expect(await f.ddc.bucketStatus(f.bucket)).to.equal(Status.Active);
    });

    it("turns Suspended exactly at arrearsSince + gracePeriod", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.increaseTo(f.runOut + GRACE - 1n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.InArrears);
      await time.increaseTo(f.runOut + GRACE);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
      expect((await f.ddc.getBucket(f.bucket2)).status).to.equal(Status.Suspended);
    });

    it("keeps the arrears clock through settlements", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.setNextBlockTimestamp(f.runOut + 100n);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]); // the batch path (arrears mode)
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(f.runOut);
      await f.ddc.connect(f.owner2).bucketSetCap(f.bucket2, 10n); // a single settlement (debt recorded)
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(f.runOut);
      await time.increaseTo(f.runOut + GRACE - 1n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.InArrears);
      await time.increaseTo(f.runOut + GRACE);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
    });

    it("returns to Active after a deposit that covers the debt, before any settlement", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.setNextBlockTimestamp(f.runOut + 100n);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]);
      await time.increaseTo(f.runOut + GRACE + 10n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n * USD); // less than the debt
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 20n * USD);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Active);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(0n);
    });

    it("starts a new arrears period (fresh grace) when a topped-up balance runs out again", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.setNextBlockTimestamp(f.runOut + 100n);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket2]);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 50n * USD); // records the debt, covers it
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Active);
      // Everything paid since the allocation is 10 + 50 tUSD: it runs out when the rent passes 60 tUSD.
      const newRunOut = f.allocatedAt + runOutAfter(SMALL_DEPOSIT + 50n * USD, 10n);
      await time.increaseTo(newRunOut - 1n);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Active);
      await time.increaseTo(newRunOut);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(newRunOut);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.InArrears);
    });

    it("is Closed after bucketClose, even in arrears", async function () {
      const f = await loadFixture(arrearsFixture);
      await time.increaseTo(f.runOut + GRACE);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Suspended);
      await f.ddc.connect(f.owner2).bucketClose(f.bucket2);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Closed);
      expect((await f.ddc.getBucket(f.bucket2)).status).to.equal(Status.Closed);
    });
  });

  describe("unknown buckets", function () {
    it("every bucket function and view reverts with BucketNotFound", async function () {
      const f = await loadFixture(exampleFixture);
      const ddc = f.ddc.connect(f.owner1);
      for (const id of [0n, 2n, 99n]) {
        const calls = [
          () => ddc.bucketAllocIntoCluster(id, 1n),
          () => ddc.bucketSetCap(id, 1n),
          () => ddc.bucketGrant(id, f.stranger.address, Role.Writer),
          () => ddc.bucketRevoke(id, f.stranger.address, Role.Writer),
          () => ddc.bucketClose(id),
          () => ddc.bucketSettlePayment(f.cluster, [f.bucket, id]),
          () => ddc.getBucket(id),
          () => ddc.bucketStatus(id),
          () => ddc.bucketHasRole(id, f.owner1.address, Role.Reader),
        ];
        for (const call of calls) {
          await expect(call()).to.be.revertedWithCustomError(f.ddc, "BucketNotFound").withArgs(id);
        }
      }
    });
  });
});
