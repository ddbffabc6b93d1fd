import { expect } from "chai";
import { ethers, network } from "hardhat";
import { loadFixture, mine, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse, FunctionFragment } from "ethers";
import { DAY, deployCore, defaultParameters } from "../../deploy/core";
import {
  CLUSTER_PARAMS,
  GIB,
  NODE_PARAMS,
  RENT,
  USD,
  exampleFixture,
  parties,
  type ExampleFixture,
  type Parties,
} from "../helpers/fixtures";
import { impersonate } from "../helpers/population";
import { MONTH, runway, settlementsOf } from "../helpers/model";
import {
  DDCCore__factory,
  DDCViews__factory,
  FeeOnTransferToken__factory,
  IDDC__factory,
  ReentrantToken__factory,
} from "../../typechain-types";
import type { DDCCore, FeeOnTransferToken, IDDC, ReentrantToken } from "../../typechain-types";

// ──────────────────────────────────────────── fixtures ─────────────────────────────────────────────

interface TokenNetwork extends Parties {
  ddc: IDDC;
  core: DDCCore;
  coreAddress: string;
  cluster: bigint;
  bucket: bigint;
}

/**
 * A core on `token`, with the example's cluster (two nodes, four vNodes, price 4 tUSD per unit per
 * month, 100 units reserved per vNode) and an empty bucket of owner 1.
 */
async function coreOn(p: Parties, token: string): Promise<TokenNetwork> {
  const { ddc, core } = await deployCore(p.deployer, {
    token,
    admin: p.deployer.address,
    parameters: defaultParameters(p.feeDestination.address),
  });
  await ddc.connect(p.provider1).nodeCreate(p.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(p.provider2).nodeCreate(p.nodeKey2.address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(p.provider1).nodeTrustManager(p.manager.address);
  await ddc.connect(p.provider2).nodeTrustManager(p.manager.address);
  await ddc.connect(p.manager).clusterCreate(p.manager.address, CLUSTER_PARAMS, GIB);
  const q = 1n << 62n;
  await ddc.connect(p.manager).clusterAddNode(1n, 1n, [0n, 2n * q]);
  await ddc.connect(p.manager).clusterAddNode(1n, 2n, [q, 3n * q]);
  await ddc.connect(p.manager).clusterReserveResource(1n, 100n);
  await ddc.connect(p.owner1).bucketCreate(1n, "");
  return { ...p, ddc, core, coreAddress: await core.getAddress(), cluster: 1n, bucket: 1n };
}

async function feeTokenCore(feeBps: number): Promise<TokenNetwork & { token: FeeOnTransferToken }> {
  const p = await parties();
  const token = await new FeeOnTransferToken__factory(p.deployer).deploy(feeBps);
  const n = await coreOn(p, await token.getAddress());
  for (const s of [p.owner1, p.owner2, p.stranger]) {
    await token.mint(s.address, 10_000n * USD);
    await token.connect(s).approve(n.coreAddress, ethers.MaxUint256);
  }
  return { ...n, token };
}

/** A core on a token that burns 1 % of every transfer. */
const feeFixture = () => feeTokenCore(100);
/** A core on a token that burns everything sent. */
const burnAllFixture = () => feeTokenCore(10_000);

/** A core on a re-entrant token; owner 1 has deposited 1,000 and holds 10 units, unlocked 500. */
async function reentrantFixture(): Promise<TokenNetwork & { token: ReentrantToken }> {
  const p = await parties();
  const token = await new ReentrantToken__factory(p.deployer).deploy();
  const n = await coreOn(p, await token.getAddress());
  for (const s of [p.owner1, p.owner2, p.stranger]) {
    await token.mint(s.address, 10_000n * USD);
    await token.connect(s).approve(n.coreAddress, ethers.MaxUint256);
  }
  await n.ddc.connect(p.owner1).accountDeposit(1n, 1000n * USD);
  await n.ddc.connect(p.owner1).bucketAllocIntoCluster(1n, 10n);
  await n.ddc.connect(p.owner1).accountUnlock(1n, 500n * USD);
  await time.increase(8 * DAY);
  return { ...n, token };
}

interface TwoClusters extends ExampleFixture {
  manager2: HardhatEthersSigner;
  /** Cluster B: manager2's, node 3 (provider others[0]) and node 4 (others[1]), one vNode each. */
  clusterB: bigint;
  node3: bigint;
  node4: bigint;
  /** Owner 2's bucket in cluster B, 5 units, funded. */
  bucketB: bigint;
}

/** The example network (cluster A, manager) and a second cluster B under another manager. */
async function twoClustersFixture(): Promise<TwoClusters> {
  const f = await exampleFixture();
  const { ddc, owner2 } = f;
  const manager2 = f.others[3];
  const [provider3, provider4] = [f.others[0], f.others[1]];
  await ddc.connect(provider3).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(provider4).nodeCreate(ethers.Wallet.createRandom().address, 1000n, 2n * RENT, NODE_PARAMS);
  await ddc.connect(provider3).nodeTrustManager(manager2.address);
  await ddc.connect(provider4).nodeTrustManager(manager2.address);
  await ddc.connect(manager2).clusterCreate(manager2.address, CLUSTER_PARAMS, GIB);
  const clusterB = 2n;
  await ddc.connect(manager2).clusterAddNode(clusterB, 3n, [5n]);
  await ddc.connect(manager2).clusterAddNode(clusterB, 4n, [7n]);
  await ddc.connect(manager2).clusterReserveResource(clusterB, 100n);
  await ddc.connect(owner2).bucketCreate(clusterB, "");
  const bucketB = 2n;
  await ddc.connect(owner2).accountDeposit(clusterB, 500n * USD);
  await ddc.connect(owner2).bucketAllocIntoCluster(bucketB, 5n);
  return { ...f, manager2, clusterB, node3: 3n, node4: 4n, bucketB };
}

// ──────────────────────────────────────────── helpers ──────────────────────────────────────────────

/** Core token balance against Σ ledger balances + Σ revenue pools (over the given ledgers). */
async function expectConservation(
  ddc: IDDC,
  tokenBalanceOfCore: () => Promise<bigint>,
  ledgers: [string, bigint][],
  clusters: bigint[],
): Promise<void> {
  let sum = 0n;
  for (const [owner, cluster] of ledgers) sum += (await ddc.getLedger(owner, cluster)).balance;
  for (const c of clusters) sum += (await ddc.getCluster(c)).revenuePool;
  expect(await tokenBalanceOfCore(), "core balance == Σ ledger balances + Σ pools").to.equal(sum);
}

/**
 * Everything about a ledger and its cluster that a refused call must leave as it was. (A refused
 * call is mined, one second on: the figures that grow with time — owed, free, the index — are left
 * out.)
 */
async function ledgerState(ddc: IDDC, owner: string, cluster: bigint): Promise<unknown[]> {
  const l = await ddc.getLedger(owner, cluster);
  return [
    l.balance,
    l.debt,
    l.units,
    l.runway,
    l.unlockAmount,
    l.unlockAt,
    l.arrearsSince,
    ...(await clusterState(ddc, cluster)),
    await ddc.bucketCount(),
  ];
}

/** A cluster's view without its index (which grows with time). */
async function clusterState(ddc: IDDC, cluster: bigint): Promise<unknown[]> {
  const c = await ddc.getCluster(cluster);
  return [
    c.manager,
    c.pendingManager,
    [...c.params],
    c.reservedPerVNode,
    c.allocated,
    c.nodeCount,
    c.vNodeCount,
    c.price,
    c.pendingPrice,
    c.pendingPriceAt,
    c.revenuePool,
    (await ddc.clusterPriceCheckpoints(cluster)).length,
  ];
}

// ───────────────────────────────────────────── specs ───────────────────────────────────────────────

describe("attacks and adversarial use", function () {
  describe("(a) a fee-on-transfer token", function () {
    it("credits exactly what arrived, for a deposit and a deposit on someone's behalf", async function () {
      const f = await loadFixture(feeFixture);
      const { ddc, token, owner1, stranger, coreAddress, cluster } = f;
      const sent = 1000n * USD;
      const arrived = sent - (sent * 100n) / 10_000n;
      const before = await token.balanceOf(owner1.address);
      await expect(ddc.connect(owner1).accountDeposit(cluster, sent))
        .to.emit(ddc, "Deposited")
        .withArgs(owner1.address, cluster, owner1.address, arrived);
      expect(await token.balanceOf(owner1.address)).to.equal(before - sent);
      expect(await token.balanceOf(coreAddress)).to.equal(arrived);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(arrived);

      await expect(ddc.connect(stranger).depositFor(owner1.address, cluster, 333n))
        .to.emit(ddc, "Deposited")
        .withArgs(owner1.address, cluster, stranger.address, 333n - 3n);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(arrived + 330n);
      expect((await ddc.getLedger(stranger.address, cluster)).balance).to.equal(0n);
      await expectConservation(ddc, () => token.balanceOf(coreAddress), [[owner1.address, cluster]], [cluster]);
    });

    it("keeps conservation through allocation, settlement, unlock and withdrawal", async function () {
      const f = await loadFixture(feeFixture);
      const { ddc, token, owner1, owner2, stranger, coreAddress, cluster, bucket } = f;
      const ledgers: [string, bigint][] = [
        [owner1.address, cluster],
        [owner2.address, cluster],
      ];
      const conserve = () => expectConservation(ddc, () => token.balanceOf(coreAddress), ledgers, [cluster]);
      await ddc.connect(owner1).accountDeposit(cluster, 1000n * USD);
      await ddc.connect(owner1).bucketAllocIntoCluster(bucket, 10n);
      await conserve();
      await time.increase(10 * DAY);
      await ddc.connect(stranger).bucketSettlePayment(cluster, [bucket]);
      const pool = (await ddc.getCluster(cluster)).revenuePool;
      expect(pool, "ten days of rent reached the pool").to.be.closeTo((10n * 4n * RENT * 10n) / 30n, 100n);
      await conserve();

      await ddc.connect(owner1).accountUnlock(cluster, 100n * USD);
      await time.increase(7 * DAY);
      const coreBefore = await token.balanceOf(coreAddress);
      const toBefore = await token.balanceOf(owner2.address);
      const ledgerBefore = await ddc.getLedger(owner1.address, cluster);
      const tx = await ddc.connect(owner1).accountWithdraw(cluster, 100n * USD, owner2.address);
      const paid = settlementsOf((await tx.wait())!, { address: coreAddress, iface: ddc.interface }, () => "")[0].paid;
      // The core sends `amount` (the fee is taken from what it sends): the ledger is debited exactly that.
      expect(await token.balanceOf(coreAddress)).to.equal(coreBefore - 100n * USD);
      expect(await token.balanceOf(owner2.address)).to.equal(toBefore + 99n * USD);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(ledgerBefore.balance - paid - 100n * USD);
      await conserve();
      await time.increase(3 * DAY);
      await ddc.connect(owner1).bucketClose(bucket);
      await conserve();
    });

    it("refuses a deposit of which nothing arrives (LedgerNothingReceived)", async function () {
      const f = await loadFixture(burnAllFixture);
      await expect(f.ddc.connect(f.owner1).accountDeposit(f.cluster, 500n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerNothingReceived")
        .withArgs(f.owner1.address, 500n);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(0n);
    });
  });

  describe("(b) a re-entrant token", function () {
    type Hook = { name: string; data: (f: TokenNetwork) => string };
    const iface = IDDC__factory.createInterface();
    const hooks: Hook[] = [
      {
        name: "accountWithdraw",
        data: (f) => iface.encodeFunctionData("accountWithdraw", [f.cluster, 1n, f.stranger.address]),
      },
      {
        name: "bucketSettlePayment",
        data: (f) => iface.encodeFunctionData("bucketSettlePayment", [f.cluster, [f.bucket]]),
      },
      { name: "accountDeposit", data: (f) => iface.encodeFunctionData("accountDeposit", [f.cluster, 1n]) },
      {
        name: "accountDepositWithPermit",
        data: (f) =>
          iface.encodeFunctionData("accountDepositWithPermit", [
            f.cluster,
            1n,
            ethers.MaxUint256,
            27,
            ethers.ZeroHash,
            ethers.ZeroHash,
          ]),
      },
      { name: "depositFor", data: (f) => iface.encodeFunctionData("depositFor", [f.owner1.address, f.cluster, 1n]) },
      {
        name: "bucketAllocIntoCluster",
        data: (f) => iface.encodeFunctionData("bucketAllocIntoCluster", [f.bucket, 1n]),
      },
      { name: "bucketClose", data: (f) => iface.encodeFunctionData("bucketClose", [f.bucket]) },
      { name: "bucketSetCap", data: (f) => iface.encodeFunctionData("bucketSetCap", [f.bucket, 20n]) },
    ];
    type Entry = { name: string; send: (f: TokenNetwork) => Promise<ContractTransactionResponse> };
    const entries: Entry[] = [
      {
        name: "accountDeposit (transferFrom)",
        send: (f) => f.ddc.connect(f.owner1).accountDeposit(f.cluster, 5n * USD),
      },
      {
        name: "depositFor (transferFrom)",
        send: (f) => f.ddc.connect(f.owner2).depositFor(f.owner1.address, f.cluster, 5n * USD),
      },
      {
        name: "accountDepositWithPermit (transferFrom)",
        send: (f) =>
          f.ddc
            .connect(f.owner1)
            .accountDepositWithPermit(f.cluster, 5n * USD, ethers.MaxUint256, 27, ethers.ZeroHash, ethers.ZeroHash),
      },
      {
        name: "accountWithdraw (transfer)",
        send: (f) => f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 100n * USD, f.owner1.address),
      },
    ];

    for (const entry of entries) {
      for (const hook of hooks) {
        it(`${entry.name} re-entered through ${hook.name}: ReentrancyGuardReentrantCall, nothing moves`, async function () {
          const f = await loadFixture(reentrantFixture);
          const { ddc, core, token, coreAddress, owner1, owner2, cluster } = f;
          await token.arm(coreAddress, hook.data(f));
          const before = [
            ...(await ledgerState(ddc, owner1.address, cluster)),
            await token.balanceOf(coreAddress),
            await token.balanceOf(owner1.address),
            await token.balanceOf(owner2.address),
            await token.hookTarget(),
          ];
          await expect(entry.send(f)).to.be.revertedWithCustomError(core, "ReentrancyGuardReentrantCall");
          const after = [
            ...(await ledgerState(ddc, owner1.address, cluster)),
            await token.balanceOf(coreAddress),
            await token.balanceOf(owner1.address),
            await token.balanceOf(owner2.address),
            await token.hookTarget(),
          ];
          expect(after).to.deep.equal(before);
        });
      }
    }

    it("control: the hook does fire (an unguarded call lands, and moves no money)", async function () {
      const f = await loadFixture(reentrantFixture);
      const { ddc, token, coreAddress, owner1, cluster } = f;
      await token.arm(coreAddress, iface.encodeFunctionData("bucketCreate", [cluster, "from the hook"]));
      const count = await ddc.bucketCount();
      await ddc.connect(owner1).accountWithdraw(cluster, 100n * USD, owner1.address);
      expect(await ddc.bucketCount(), "the hook created a bucket").to.equal(count + 1n);
      expect((await ddc.getBucket(count + 1n)).owner).to.equal(await token.getAddress());
      expect(await token.hookTarget(), "the hook was used").to.equal(ethers.ZeroAddress);
      await expectConservation(ddc, () => token.balanceOf(coreAddress), [[owner1.address, cluster]], [cluster]);
    });
  });

  describe("(c) a withdrawal in the same block as a settlement", function () {
    /** Owner 1 (1,000 tUSD, 10 units at 4 tUSD) unlocks all that is free and waits past the delay. */
    async function unlockedFixture(): Promise<ExampleFixture & { allocatedAt: bigint; unlocked: bigint }> {
      const f = await exampleFixture();
      const log = (await f.ddc.queryFilter(f.ddc.filters.BucketAllocated(f.bucket)))[0];
      const allocatedAt = BigInt((await log.getBlock()).timestamp);
      const t0 = BigInt(await time.latest()) + 1n;
      const price = 4n * RENT;
      const unlocked =
        f.deposit -
        (f.units * price * (t0 - allocatedAt)) / MONTH -
        runway(f.units, price, BigInt(f.parameters.gracePeriod));
      await time.setNextBlockTimestamp(t0);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, unlocked);
      await time.increase(7 * DAY + 3600);
      return { ...f, allocatedAt, unlocked };
    }

    for (const withdrawFirst of [true, false]) {
      for (const greedy of [false, true]) {
        const what = greedy
          ? "a withdrawal ignoring the rent of the wait is refused"
          : "the largest free withdrawal goes through";
        const order = withdrawFirst ? "withdrawal first" : "settlement first";
        it(`${order}: the pool gets the rent, the runway stays, and ${what}`, async function () {
          const f = await loadFixture(unlockedFixture);
          const { ddc, token, coreAddress, owner1, stranger, cluster, bucket, deposit, allocatedAt, unlocked } = f;
          const price = 4n * RENT;
          const grace = BigInt(f.parameters.gracePeriod);
          const t = BigInt(await time.latest()) + 10n;
          // The rent due at t: one unit period since the allocation, constant price (no settlement since).
          const rent = (f.units * price * (t - allocatedAt)) / MONTH;
          const keep = runway(f.units, price, grace);
          const free = deposit - rent - keep;
          // Greedy: all that was free at the unlock, as if the wait cost nothing.
          const amount = greedy ? unlocked : free;
          expect(free).to.be.lessThan(unlocked);
          const toBefore = await token.balanceOf(owner1.address);

          await network.provider.send("evm_setAutomine", [false]);
          let hashes: string[];
          try {
            const high = { gasLimit: 1_000_000, maxFeePerGas: 100n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n * 50n };
            const low = { gasLimit: 1_000_000, maxFeePerGas: 100n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n };
            const w = await ddc
              .connect(owner1)
              .accountWithdraw(cluster, amount, owner1.address, withdrawFirst ? high : low);
            const s = await ddc.connect(stranger).bucketSettlePayment(cluster, [bucket], withdrawFirst ? low : high);
            hashes = [w.hash, s.hash];
            await time.setNextBlockTimestamp(t);
            await mine();
          } finally {
            await network.provider.send("evm_setAutomine", [true]);
          }
          const [wr, sr] = await Promise.all(hashes.map((h) => ethers.provider.getTransactionReceipt(h)));
          expect(wr!.blockNumber, "one block").to.equal(sr!.blockNumber);
          expect(wr!.index < sr!.index, "order in the block").to.equal(withdrawFirst);
          expect(sr!.status, "the settlement succeeds").to.equal(1);
          expect(wr!.status, "the withdrawal").to.equal(greedy ? 0 : 1);

          const pool = (await ddc.getCluster(cluster)).revenuePool;
          const ledger = await ddc.getLedger(owner1.address, cluster);
          expect(pool, "the pool got the rent").to.equal(rent);
          expect(ledger.debt).to.equal(0n);
          expect(ledger.balance, "what is left").to.equal(greedy ? deposit - rent : keep);
          expect(ledger.balance, "the runway stays").to.be.at.least(keep);
          expect(await token.balanceOf(owner1.address)).to.equal(toBefore + (greedy ? 0n : free));
          await expectConservation(ddc, () => token.balanceOf(coreAddress), [[owner1.address, cluster]], [cluster]);
        });
      }
    }
  });

  describe("(d) spam", function () {
    it("buckets of 0 or 1 unit from an address without deposit: refused growth, no cost to the cluster", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, token, coreAddress, cluster, owner1 } = f;
      const spammer = await impersonate(ethers.Wallet.createRandom().address);
      const address = await spammer.getAddress();
      const before = await ddc.getCluster(cluster);
      const checkpoints = (await ddc.clusterPriceCheckpoints(cluster)).length;
      const count = await ddc.bucketCount();
      const required = runway(1n, before.price, BigInt(f.parameters.gracePeriod));
      expect(required).to.be.greaterThan(0n);
      const spam: bigint[] = [];
      for (let i = 0; i < 25; i++) {
        await ddc.connect(spammer).bucketCreate(cluster, "");
        const id = count + BigInt(i) + 1n;
        spam.push(id);
        if (i % 2 === 0) {
          await expect(ddc.connect(spammer).bucketAllocIntoCluster(id, 1n))
            .to.be.revertedWithCustomError(ddc, "LedgerInsufficientRunway")
            .withArgs(address, cluster, 0n, required);
        } else {
          await expect(ddc.connect(spammer).bucketAllocIntoCluster(id, 0n))
            .to.emit(ddc, "BucketAllocated")
            .withArgs(id, 0n, 0n, 0n);
        }
      }
      expect(await ddc.bucketCount()).to.equal(count + 25n);
      await time.increase(30 * DAY);
      await expect(ddc.connect(f.stranger).bucketSettlePayment(cluster, spam))
        .to.emit(ddc, "PaymentsSettled")
        .withArgs(cluster, 0n, (record: string) => BigInt(record.length - 2) === 25n * 72n);
      const after = await ddc.getCluster(cluster);
      expect(after.allocated, "nothing allocated").to.equal(before.allocated);
      expect(after.price, "price unchanged").to.equal(before.price);
      expect(after.pendingPrice).to.equal(0n);
      expect(after.revenuePool, "no revenue from spam").to.equal(before.revenuePool);
      expect((await ddc.clusterPriceCheckpoints(cluster)).length).to.equal(checkpoints);
      const l = await ddc.getLedger(address, cluster);
      expect([l.balance, l.debt, l.units, l.owed, l.arrearsSince]).to.deep.equal([0n, 0n, 0n, 0n, 0n]);
      for (const id of spam.slice(0, 3)) expect((await ddc.getBucket(id)).status).to.equal(1n); // Active, no debt
      await expectConservation(ddc, () => token.balanceOf(coreAddress), [[owner1.address, cluster]], [cluster]);
    });

    for (const inArrears of [false, true]) {
      const title = inArrears ? "a ledger in arrears" : "a ledger in credit";
      it(`many 1-unit deposits into ${title} gain nothing over one deposit of the sum`, async function () {
        const f = await loadFixture(exampleFixture);
        const { ddc, token, coreAddress, cluster, owner2, stranger } = f;
        await ddc.connect(owner2).bucketCreate(cluster, "");
        const bucket = await ddc.bucketCount();
        const start = BigInt(await time.latest()) + 1n;
        await time.setNextBlockTimestamp(start);
        // A deposit for 3 units' runway plus (in credit) two months, or (in arrears) nothing more.
        const keep = runway(3n, 4n * RENT, BigInt(f.parameters.gracePeriod));
        await ddc.connect(owner2).accountDeposit(cluster, keep + (inArrears ? 0n : 24n * RENT));
        await ddc.connect(owner2).bucketAllocIntoCluster(bucket, 3n);
        const n = 30;
        const t0 = start + (inArrears ? 20n : 2n) * BigInt(DAY);
        const run = async (tiny: boolean): Promise<bigint[]> => {
          for (let i = 0; i < n; i++) {
            const t = t0 + BigInt(i) * 3600n;
            if (tiny || i === 0) {
              await time.setNextBlockTimestamp(t);
              await ddc.connect(stranger).depositFor(owner2.address, cluster, tiny ? 1n : BigInt(n));
            }
            await time.setNextBlockTimestamp(t + 60n);
            await ddc.connect(stranger).bucketSettlePayment(cluster, [bucket]);
          }
          await time.setNextBlockTimestamp(t0 + BigInt(n) * 3600n);
          await ddc.connect(stranger).bucketSettlePayment(cluster, [bucket]);
          await expectConservation(
            ddc,
            () => token.balanceOf(coreAddress),
            [
              [owner2.address, cluster],
              [f.owner1.address, cluster],
            ],
            [cluster],
          );
          const l = await ddc.getLedger(owner2.address, cluster);
          return [(await ddc.getCluster(cluster)).revenuePool, l.balance, l.debt, l.owed];
        };
        const snapshot = (await network.provider.send("evm_snapshot", [])) as string;
        const tiny = await run(true);
        await network.provider.send("evm_revert", [snapshot]);
        const once = await run(false);
        expect(tiny, "pool, balance, debt, owed").to.deep.equal(once);
        if (inArrears) expect(once[2], "the ledger is in debt").to.be.greaterThan(0n);
        else expect(once[1], "the ledger is in credit").to.be.greaterThan(0n);
      });
    }
  });

  describe("(e) a node used in a cluster it does not belong to", function () {
    it("status, rent and removal on a non-member: ClusterNodeNotMember, the other cluster untouched", async function () {
      const f = await loadFixture(twoClustersFixture);
      const { ddc, manager, manager2, cluster, clusterB, node3 } = f;
      // manager2 also manages a cluster with node 3, so node 3 is a live member somewhere.
      await ddc.connect(f.others[0]).nodeChangeRent(node3, 3n * RENT);
      const b = await clusterState(ddc, clusterB);
      const info = [...(await ddc.clusterNodeInfo(clusterB, node3))];
      for (const send of [
        () => ddc.connect(manager).clusterSetNodeStatus(cluster, node3, 2),
        () => ddc.connect(manager).clusterAcceptNodeRent(cluster, node3),
        () => ddc.connect(manager).clusterRemoveNode(cluster, node3),
        () => ddc.connect(manager).clusterSetNodeStatus(cluster, 99n, 2),
      ]) {
        await expect(send()).to.be.revertedWithCustomError(ddc, "ClusterNodeNotMember");
      }
      await expect(ddc.connect(manager).clusterRemoveNode(cluster, node3))
        .to.be.revertedWithCustomError(ddc, "ClusterNodeNotMember")
        .withArgs(cluster, node3);
      // A member cannot be put back to status None (that would be a removal without its price change).
      await expect(ddc.connect(manager).clusterSetNodeStatus(cluster, f.node1, 0))
        .to.be.revertedWithCustomError(ddc, "ClusterNodeNotMember")
        .withArgs(cluster, f.node1);
      await expect(ddc.connect(manager2).clusterAddNode(clusterB, node3, [9n]))
        .to.be.revertedWithCustomError(ddc, "ClusterNodeAlreadyMember")
        .withArgs(clusterB, node3);
      expect(await clusterState(ddc, clusterB)).to.deep.equal(b);
      expect([...(await ddc.clusterNodeInfo(clusterB, node3))]).to.deep.equal(info);
      expect((await ddc.getCluster(cluster)).nodeCount).to.equal(2n);
    });
  });

  describe("(f) a manager of cluster A touching cluster B", function () {
    /** Every manager-only function, with arguments that would otherwise be valid for cluster B. */
    function managerCalls(f: TwoClusters): Record<string, unknown[]> {
      return {
        clusterChangeParams: [f.clusterB, { ...CLUSTER_PARAMS, managementFeeBps: 0 }],
        clusterAddNode: [f.clusterB, f.node1, [11n]],
        clusterRemoveNode: [f.clusterB, f.node3],
        clusterReplaceNode: [f.clusterB, f.node3, [f.node1], ethers.ZeroHash],
        clusterSetNodeStatus: [f.clusterB, f.node3, 2],
        clusterAcceptNodeRent: [f.clusterB, f.node3],
        clusterReserveResource: [f.clusterB, 50n],
        clusterProposeManager: [f.clusterB, f.manager.address],
        clusterSetOperator: [f.clusterB, f.manager.address, true],
        clusterSetValidator: [f.clusterB, f.manager.address, true],
        clusterWithdrawReserve: [f.clusterB, 0n, f.manager.address],
      };
    }

    it("the list covers every cluster function a manager calls", async function () {
      const f = await loadFixture(twoClustersFixture);
      const mutating = IDDC__factory.createInterface()
        .fragments.filter((x): x is FunctionFragment => x.type === "function")
        .filter((x) => !x.constant && x.name.startsWith("cluster"))
        .map((x) => x.name)
        // clusterReportUsage is also open to operators: its refusal is ClusterNotOperator (usage spec).
        .filter(
          (n) =>
            n !== "clusterCreate" &&
            n !== "clusterAcceptManager" &&
            n !== "clusterReportUsage" &&
            n !== "clusterDistributeRevenues",
        );
      expect(mutating.sort()).to.deep.equal(Object.keys(managerCalls(f)).sort());
    });

    it("every manager function: ClusterNotManager(B, managerA), B untouched", async function () {
      const f = await loadFixture(twoClustersFixture);
      const { ddc, manager, clusterB } = f;
      const before = await clusterState(ddc, clusterB);
      for (const [name, args] of Object.entries(managerCalls(f))) {
        await expect(ddc.connect(manager).getFunction(name)(...args), name)
          .to.be.revertedWithCustomError(ddc, "ClusterNotManager")
          .withArgs(clusterB, manager.address);
        // The same call by B's manager goes through: the refusal is about the caller.
      }
      await expect(ddc.connect(manager).clusterAcceptManager(clusterB))
        .to.be.revertedWithCustomError(ddc, "ClusterNotPendingManager")
        .withArgs(clusterB, manager.address);
      expect(await clusterState(ddc, clusterB)).to.deep.equal(before);
      expect(await ddc.clusterOperators(clusterB)).to.deep.equal([]);
      expect(await ddc.clusterValidators(clusterB)).to.deep.equal([]);
      // Control: B's own manager may make the same calls.
      await f.ddc.connect(f.others[0]).nodeChangeRent(f.node3, 2n * RENT);
      for (const [name, args] of Object.entries(managerCalls(f))) {
        // Trust, replication and the ring's shape are checked elsewhere (clusters and replacement specs).
        if (["clusterAddNode", "clusterRemoveNode", "clusterReplaceNode"].includes(name)) continue;
        await ddc.connect(f.manager2).getFunction(name)(...args);
      }
      expect((await ddc.getCluster(clusterB)).pendingManager).to.equal(manager.address);
    });
  });

  describe("(g) a bucket of cluster B in a settlement batch for cluster A", function () {
    it("BucketNotInCluster, and the whole batch reverts (no partial settlement)", async function () {
      const f = await loadFixture(twoClustersFixture);
      const { ddc, owner1, owner2, stranger, cluster, clusterB, bucket, bucketB } = f;
      await time.increase(10 * DAY);
      const a = await ledgerState(ddc, owner1.address, cluster);
      const b = await ledgerState(ddc, owner2.address, clusterB);
      for (const batch of [
        [bucket, bucketB],
        [bucketB, bucket],
        [bucket, bucket, bucketB],
      ]) {
        await expect(ddc.connect(stranger).bucketSettlePayment(cluster, batch))
          .to.be.revertedWithCustomError(ddc, "BucketNotInCluster")
          .withArgs(bucketB, cluster);
      }
      await expect(ddc.connect(stranger).bucketSettlePayment(cluster, [bucket, 77n]))
        .to.be.revertedWithCustomError(ddc, "BucketNotFound")
        .withArgs(77n);
      expect(await ledgerState(ddc, owner1.address, cluster)).to.deep.equal(a);
      expect(await ledgerState(ddc, owner2.address, clusterB)).to.deep.equal(b);
      // Control: the valid part alone pays.
      await ddc.connect(stranger).bucketSettlePayment(cluster, [bucket]);
      expect((await ddc.getCluster(cluster)).revenuePool).to.be.greaterThan(0n);
      expect((await ddc.getCluster(clusterB)).revenuePool).to.equal(0n);
    });
  });

  describe("(h) nobody moves an owner's deposit but the owner", function () {
    const IDDC_ACTIONS = [
      "accountDeposit",
      "accountDepositWithPermit",
      "accountUnlock",
      "accountWithdraw",
      "bucketAllocIntoCluster",
      "bucketAllocWithMaxPrice",
      "bucketClose",
      "bucketCreate",
      "bucketEvict",
      "bucketGrant",
      "bucketRevoke",
      "bucketSetCap",
      "bucketSetCapWithMaxPrice",
      "bucketSettlePayment",
      "claim",
      "clusterAcceptManager",
      "clusterAcceptNodeRent",
      "clusterAddNode",
      "clusterChangeParams",
      "clusterCreate",
      "clusterDistributeRevenues",
      "clusterProposeManager",
      "clusterRemoveNode",
      "clusterReplaceNode",
      "clusterReportUsage",
      "clusterReserveResource",
      "clusterSetNodeStatus",
      "clusterSetOperator",
      "clusterSetValidator",
      "clusterWithdrawReserve",
      "depositFor",
      "nodeCancelLeave",
      "nodeChangeCapacity",
      "nodeChangeParams",
      "nodeChangeRent",
      "nodeCreate",
      "nodeDistrustManager",
      "nodeLeaveCluster",
      "nodeRemove",
      "nodeRequestLeave",
      "nodeRotateKey",
      "nodeTrustManager",
      "pause",
      "setFeeDestination",
      "setGracePeriod",
      "setNetworkFee",
      "setUnlockDelay",
      "unpause",
      "withdrawBalance",
    ];
    const nonView = (fragments: readonly { type: string }[]): string[] =>
      fragments
        .filter((x): x is FunctionFragment => x.type === "function")
        .filter((x) => !x.constant)
        .map((x) => x.name)
        .sort();

    it("the core's state-changing functions are exactly the known list (a new one breaks this test)", async function () {
      expect(nonView(IDDC__factory.createInterface().fragments)).to.deep.equal(IDDC_ACTIONS);
      // The core itself adds only role administration; its views extension changes nothing.
      expect(nonView(DDCCore__factory.createInterface().fragments)).to.deep.equal(
        [...IDDC_ACTIONS, "grantRole", "renounceRole", "revokeRole"].sort(),
      );
      expect(nonView(DDCViews__factory.createInterface().fragments)).to.deep.equal([]);
      // The only function that sends a ledger's tokens out takes the ledger from msg.sender: its
      // inputs name no owner (cluster, amount, to). (claim, withdrawBalance and
      // clusterWithdrawReserve pay out providers' revenue, fee balances and the reserve.)
      const withdraw = IDDC__factory.createInterface().getFunction("accountWithdraw")!;
      expect(withdraw.inputs.map((i) => i.name)).to.deep.equal(["cluster", "amount", "to"]);
      // And nothing is payable: no function, no receive.
      const abi = DDCCore__factory.createInterface();
      expect(abi.fragments.some((x) => (x as FunctionFragment).payable === true)).to.equal(false);
      expect(abi.receive).to.equal(false);
    });

    it("the admin, the governor and the pauser each withdraw only their own (empty) ledger", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, core, token, coreAddress, deployer, governor, pauser, owner1, cluster } = f;
      await core.connect(deployer).grantRole(await core.PARAMETERS_ROLE(), deployer.address);
      await core.connect(deployer).grantRole(await core.PAUSER_ROLE(), deployer.address);
      const ledger = (await ddc.getLedger(owner1.address, cluster)).balance;
      const held = await token.balanceOf(coreAddress);
      for (const who of [deployer, governor, pauser]) {
        await expect(ddc.connect(who).accountWithdraw(cluster, ledger, who.address))
          .to.be.revertedWithCustomError(ddc, "LedgerLocked")
          .withArgs(who.address, cluster, 0n);
        await expect(ddc.connect(who).accountUnlock(cluster, ledger))
          .to.be.revertedWithCustomError(ddc, "LedgerInsufficientFree")
          .withArgs(who.address, cluster, 0n, ledger);
      }
      await time.increase(8 * DAY);
      for (const who of [deployer, governor, pauser]) {
        await expect(ddc.connect(who).accountWithdraw(cluster, ledger, who.address))
          .to.be.revertedWithCustomError(ddc, "LedgerLocked")
          .withArgs(who.address, cluster, 0n);
      }
      expect(await token.balanceOf(coreAddress)).to.equal(held);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(ledger);
    });

    it("every governance power used at once moves no deposit; the owner still withdraws while paused", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, core, token, coreAddress, deployer, owner1, cluster, bucket } = f;
      await ddc.connect(owner1).accountUnlock(cluster, 100n * USD);
      await core.connect(deployer).grantRole(await core.PARAMETERS_ROLE(), deployer.address);
      await core.connect(deployer).grantRole(await core.PAUSER_ROLE(), deployer.address);
      const held = await token.balanceOf(coreAddress);
      const adminHeld = await token.balanceOf(deployer.address);
      const balance = (await ddc.getLedger(owner1.address, cluster)).balance;
      await core.connect(deployer).setNetworkFee(1_000);
      await core.connect(deployer).setFeeDestination(deployer.address);
      await core.connect(deployer).setUnlockDelay(30 * DAY);
      await core.connect(deployer).setGracePeriod(3600);
      await core.connect(deployer).pause();
      expect(await token.balanceOf(coreAddress)).to.equal(held);
      expect(await token.balanceOf(deployer.address)).to.equal(adminHeld);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(balance);
      // Paused: settling is stopped, but the owner's unlocked funds come out (on the old delay).
      await time.increase(7 * DAY);
      await expect(ddc.connect(f.stranger).bucketSettlePayment(cluster, [bucket])).to.be.revertedWithCustomError(
        core,
        "EnforcedPause",
      );
      const before = await token.balanceOf(owner1.address);
      await ddc.connect(owner1).accountWithdraw(cluster, 100n * USD, owner1.address);
      expect(await token.balanceOf(owner1.address)).to.equal(before + 100n * USD);
      expect(await token.balanceOf(deployer.address)).to.equal(adminHeld);
    });

    it("a depositor for someone else cannot take the deposit back", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, stranger, owner1, cluster } = f;
      await ddc.connect(stranger).depositFor(owner1.address, cluster, 50n * USD);
      await expect(ddc.connect(stranger).accountUnlock(cluster, 50n * USD))
        .to.be.revertedWithCustomError(ddc, "LedgerInsufficientFree")
        .withArgs(stranger.address, cluster, 0n, 50n * USD);
      await time.increase(8 * DAY);
      await expect(ddc.connect(stranger).accountWithdraw(cluster, 50n * USD, stranger.address))
        .to.be.revertedWithCustomError(ddc, "LedgerLocked")
        .withArgs(stranger.address, cluster, 0n);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.be.greaterThan(f.deposit);
    });

    it("no generic entry point: token-like calls and ether to the core revert", async function () {
      const f = await loadFixture(exampleFixture);
      const { token, coreAddress, deployer } = f;
      const held = await token.balanceOf(coreAddress);
      const erc20 = new ethers.Interface([
        "function transfer(address,uint256)",
        "function approve(address,uint256)",
        "function transferFrom(address,address,uint256)",
        "function execute(address,bytes)",
        "function sweep(address,address,uint256)",
      ]);
      const calls = [
        erc20.encodeFunctionData("transfer", [deployer.address, held]),
        erc20.encodeFunctionData("approve", [deployer.address, held]),
        erc20.encodeFunctionData("transferFrom", [coreAddress, deployer.address, held]),
        erc20.encodeFunctionData("execute", [
          await token.getAddress(),
          token.interface.encodeFunctionData("transfer", [deployer.address, held]),
        ]),
        erc20.encodeFunctionData("sweep", [await token.getAddress(), deployer.address, held]),
      ];
      for (const data of calls) {
        await expect(deployer.sendTransaction({ to: coreAddress, data })).to.be.reverted;
      }
      await expect(deployer.sendTransaction({ to: coreAddress, value: 1n })).to.be.reverted;
      expect(await token.balanceOf(coreAddress)).to.equal(held);
      expect(await token.allowance(coreAddress, deployer.address)).to.equal(0n);
    });
  });
});
