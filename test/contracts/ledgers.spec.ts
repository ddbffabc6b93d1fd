import { expect } from "chai";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionReceipt, ContractTransactionResponse, Signature } from "ethers";
import { deployCore } from "../../deploy/core";
import { FeeOnTransferToken__factory } from "../../typechain-types";
import {
  CLUSTER_PARAMS,
  GIB,
  MONTH,
  RENT,
  USD,
  coreFixture,
  exampleFixture,
  type CoreFixture,
  type ExampleFixture,
} from "../helpers/fixtures";
import { ceilDiv, rent, runOutAfter, runway } from "../helpers/rent";

// ───────────────────────────────────────── helpers ──────────────────────────────────────────

const Status = { Active: 1n, InArrears: 2n, Suspended: 3n } as const;

/** Cluster 1 of the example: four vNodes at 1 tUSD each. */
const PRICE = 4n * RENT;
const DAY = 24n * 60n * 60n;
/** The example's unlock delay (7 days). */
const UNLOCK_DELAY = 7n * DAY;
const MAX_UINT40 = (1n << 40n) - 1n;
/** A gas limit for transactions expected to revert at a set timestamp (skips gas estimation). */
const MINE = { gasLimit: 3_000_000n };

async function mined(pending: Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt> {
  const receipt = await (await pending).wait();
  if (receipt === null) throw new Error("no receipt");
  return receipt;
}

async function blockTime(receipt: ContractTransactionReceipt): Promise<bigint> {
  const block = await ethers.provider.getBlock(receipt.blockNumber);
  if (block === null) throw new Error("no block");
  return BigInt(block.timestamp);
}

async function minedAt(pending: Promise<ContractTransactionResponse>): Promise<bigint> {
  return blockTime(await mined(pending));
}

interface RecordEntry {
  id: bigint;
  paid: bigint;
  debt: bigint;
}

/** Decodes a PaymentsSettled record: per bucket 36 bytes, uint64 id | uint112 paid | uint112 debt. */
function decodeRecord(record: string): RecordEntry[] {
  const bytes = ethers.getBytes(record);
  if (bytes.length % 36 !== 0) throw new Error(`record of ${bytes.length} bytes`);
  const entries: RecordEntry[] = [];
  for (let at = 0; at < bytes.length; at += 36) {
    entries.push({
      id: ethers.toBigInt(bytes.slice(at, at + 8)),
      paid: ethers.toBigInt(bytes.slice(at + 8, at + 22)),
      debt: ethers.toBigInt(bytes.slice(at + 22, at + 36)),
    });
  }
  return entries;
}

function encodeRecord(entries: RecordEntry[]): string {
  return ethers.concat(
    entries.map((e) => ethers.solidityPacked(["uint64", "uint112", "uint112"], [e.id, e.paid, e.debt])),
  );
}

interface Settled {
  cluster: bigint;
  total: bigint;
  entries: RecordEntry[];
}

/** The PaymentsSettled event of a settlement transaction, its record decoded. */
function settledEvent(f: CoreFixture, receipt: ContractTransactionReceipt): Settled {
  for (const log of receipt.logs) {
    const parsed = f.ddc.interface.parseLog(log);
    if (parsed !== null && parsed.name === "PaymentsSettled") {
      return {
        cluster: parsed.args.cluster as bigint,
        total: parsed.args.total as bigint,
        entries: decodeRecord(parsed.args.record as string),
      };
    }
  }
  throw new Error("no PaymentsSettled event");
}

async function settleAt(f: CoreFixture, at: bigint, cluster: bigint, buckets: bigint[]): Promise<Settled> {
  await time.setNextBlockTimestamp(at);
  return settledEvent(f, await mined(f.ddc.connect(f.stranger).bucketSettlePayment(cluster, buckets)));
}

async function signPermit(
  f: CoreFixture,
  owner: HardhatEthersSigner,
  value: bigint,
  deadline: bigint,
): Promise<Signature> {
  const { chainId } = await ethers.provider.getNetwork();
  const signature = await owner.signTypedData(
    { name: "DDC Test Dollar", version: "1", chainId, verifyingContract: await f.token.getAddress() },
    {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    { owner: owner.address, spender: f.coreAddress, value, nonce: await f.token.nonces(owner.address), deadline },
  );
  return ethers.Signature.from(signature);
}

interface LedgerFixture extends ExampleFixture {
  /** When owner1's bucket was allocated: its ledger's checkpoint (remainder 0). */
  allocatedAt: bigint;
  /** Cluster 1's index at `allocatedAt`. */
  indexAtAlloc: bigint;
}

async function ledgerFixture(): Promise<LedgerFixture> {
  const f = await exampleFixture();
  const allocatedAt = BigInt(await time.latest());
  const indexAtAlloc = (await f.ddc.getCluster(f.cluster)).index;
  return { ...f, allocatedAt, indexAtAlloc };
}

const SMALL_DEPOSIT = 10n * USD;

interface ArrearsFixture extends LedgerFixture {
  /** owner2's 10-unit bucket on a 10 tUSD deposit. */
  bucket2: bigint;
  /** When bucket 2 was allocated (owner2's checkpoint, remainder 0). */
  allocated2At: bigint;
  /** The first second at which owner2's balance no longer covers the rent. */
  runOut: bigint;
}

async function arrearsFixture(): Promise<ArrearsFixture> {
  const f = await ledgerFixture();
  await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
  await f.ddc.connect(f.owner2).accountDeposit(f.cluster, SMALL_DEPOSIT);
  const allocated2At = await minedAt(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n));
  return { ...f, bucket2: 2n, allocated2At, runOut: allocated2At + runOutAfter(SMALL_DEPOSIT, 10n) };
}

/** owner2's total rent since its allocation until `t`. */
function rent2(f: ArrearsFixture, t: bigint): bigint {
  return rent(10n, t - f.allocated2At);
}

// ───────────────────────────────────────── tests ────────────────────────────────────────────

describe("ledgers", function () {
  describe("accountDeposit", function () {
    it("credits the caller's ledger, moves the tokens and emits Deposited", async function () {
      const f = await loadFixture(exampleFixture);
      const amount = 123n * USD + 456n;
      const tx = f.ddc.connect(f.owner2).accountDeposit(f.cluster, amount);
      await expect(tx).to.emit(f.ddc, "Deposited").withArgs(f.owner2.address, f.cluster, f.owner2.address, amount);
      await expect(tx).to.changeTokenBalances(f.token, [f.owner2, f.core], [-amount, amount]);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(amount + 1n);
      expect(ledger.free).to.equal(amount + 1n);
    });

    it("reverts with DDCZeroAmount and ClusterNotFound, and works while paused", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner2).accountDeposit(f.cluster, 0n)).to.be.revertedWithCustomError(
        f.ddc,
        "DDCZeroAmount",
      );
      await expect(f.ddc.connect(f.owner2).accountDeposit(7n, USD))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(7n);
      await f.core.connect(f.pauser).pause();
      await expect(f.ddc.connect(f.owner2).accountDeposit(f.cluster, USD))
        .to.emit(f.ddc, "Deposited")
        .withArgs(f.owner2.address, f.cluster, f.owner2.address, USD);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).balance).to.equal(USD);
    });

    it("credits what arrived from a fee-on-transfer token, and reverts if nothing arrived", async function () {
      const f = await loadFixture(coreFixture);
      for (const [feeBps, arrives] of [
        [100n, 990n],
        [10_000n, 0n],
      ]) {
        const fee = await new FeeOnTransferToken__factory(f.deployer).deploy(feeBps);
        const { ddc } = await deployCore(f.deployer, {
          token: await fee.getAddress(),
          admin: f.deployer.address,
          parameters: f.parameters,
        });
        await ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
        await fee.mint(f.owner1.address, 10_000n);
        await fee.connect(f.owner1).approve(await ddc.getAddress(), ethers.MaxUint256);
        if (arrives === 0n) {
          await expect(ddc.connect(f.owner1).accountDeposit(1n, 1000n))
            .to.be.revertedWithCustomError(ddc, "LedgerNothingReceived")
            .withArgs(f.owner1.address, 1000n);
          continue;
        }
        await expect(ddc.connect(f.owner1).accountDeposit(1n, 1000n))
          .to.emit(ddc, "Deposited")
          .withArgs(f.owner1.address, 1n, f.owner1.address, arrives);
        expect((await ddc.getLedger(f.owner1.address, 1n)).balance).to.equal(arrives);
        expect(await fee.balanceOf(await ddc.getAddress())).to.equal(arrives);
      }
    });

    it("into a ledger in arrears mode repays the debt first, at once (LedgerSettled), then credits the rest", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 100n, f.cluster, [f.bucket2]); // arrears mode
      await time.setNextBlockTimestamp(f.runOut + 200n);
      const debt = rent2(f, f.runOut + 200n) - SMALL_DEPOSIT;
      expect(debt).to.be.lessThan(5n * USD);
      const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
      await expect(f.ddc.connect(f.owner2).accountDeposit(f.cluster, 5n * USD))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner2.address, f.cluster, debt, 0n)
        .and.to.emit(f.ddc, "Deposited")
        .withArgs(f.owner2.address, f.cluster, f.owner2.address, 5n * USD);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(5n * USD - debt);
      expect(ledger.debt).to.equal(0n);
      expect(ledger.arrearsSince).to.equal(0n);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(pool + debt);
    });
  });

  describe("depositFor", function () {
    it("credits the owner's ledger with the payer's tokens", async function () {
      const f = await loadFixture(exampleFixture);
      const amount = 77n * USD;
      const tx = f.ddc.connect(f.stranger).depositFor(f.owner2.address, f.cluster, amount);
      await expect(tx).to.emit(f.ddc, "Deposited").withArgs(f.owner2.address, f.cluster, f.stranger.address, amount);
      await expect(tx).to.changeTokenBalances(f.token, [f.stranger, f.owner2, f.core], [-amount, 0n, amount]);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).balance).to.equal(amount);
      expect((await f.ddc.getLedger(f.stranger.address, f.cluster)).balance).to.equal(0n);
    });

    it('reverts with DDCZeroAddress("owner"), DDCZeroAmount and ClusterNotFound, and works while paused', async function () {
      const f = await loadFixture(exampleFixture);
      const ddc = f.ddc.connect(f.stranger);
      await expect(ddc.depositFor(ethers.ZeroAddress, f.cluster, USD))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(ethers.encodeBytes32String("owner"));
      await expect(ddc.depositFor(f.owner2.address, f.cluster, 0n)).to.be.revertedWithCustomError(
        f.ddc,
        "DDCZeroAmount",
      );
      await expect(ddc.depositFor(f.owner2.address, 9n, USD))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(9n);
      await f.core.connect(f.pauser).pause();
      await expect(ddc.depositFor(f.owner2.address, f.cluster, USD))
        .to.emit(f.ddc, "Deposited")
        .withArgs(f.owner2.address, f.cluster, f.stranger.address, USD);
    });
  });

  describe("accountDepositWithPermit", function () {
    async function permitFixture(): Promise<ExampleFixture & { payer: HardhatEthersSigner }> {
      const f = await exampleFixture();
      const payer = f.others[0];
      await f.token.mint(payer.address, 1000n * USD);
      return { ...f, payer };
    }

    it("deposits with a signed permit and no prior allowance", async function () {
      const f = await loadFixture(permitFixture);
      expect(await f.token.allowance(f.payer.address, f.coreAddress)).to.equal(0n);
      const amount = 250n * USD;
      const deadline = BigInt(await time.latest()) + DAY;
      const sig = await signPermit(f, f.payer, amount, deadline);
      const tx = f.ddc.connect(f.payer).accountDepositWithPermit(f.cluster, amount, deadline, sig.v, sig.r, sig.s);
      await expect(tx).to.emit(f.ddc, "Deposited").withArgs(f.payer.address, f.cluster, f.payer.address, amount);
      await expect(tx).to.changeTokenBalances(f.token, [f.payer, f.core], [-amount, amount]);
      expect(await f.token.nonces(f.payer.address)).to.equal(1n);
      expect(await f.token.allowance(f.payer.address, f.coreAddress)).to.equal(0n);
      expect((await f.ddc.getLedger(f.payer.address, f.cluster)).balance).to.equal(amount);
    });

    it("still deposits when the permit was front-run (already used) and the allowance is there", async function () {
      const f = await loadFixture(permitFixture);
      const amount = 40n * USD;
      const deadline = BigInt(await time.latest()) + DAY;
      const sig = await signPermit(f, f.payer, amount, deadline);
      await f.token.connect(f.stranger).permit(f.payer.address, f.coreAddress, amount, deadline, sig.v, sig.r, sig.s);
      expect(await f.token.allowance(f.payer.address, f.coreAddress)).to.equal(amount);
      await expect(f.ddc.connect(f.payer).accountDepositWithPermit(f.cluster, amount, deadline, sig.v, sig.r, sig.s))
        .to.emit(f.ddc, "Deposited")
        .withArgs(f.payer.address, f.cluster, f.payer.address, amount);
      expect((await f.ddc.getLedger(f.payer.address, f.cluster)).balance).to.equal(amount);
    });

    it("fails in the transfer when the permit is invalid and there is no allowance", async function () {
      const f = await loadFixture(permitFixture);
      const amount = 40n * USD;
      const deadline = BigInt(await time.latest()) + DAY;
      const sig = await signPermit(f, f.payer, amount - 1n, deadline); // signed for another value
      await expect(f.ddc.connect(f.payer).accountDepositWithPermit(f.cluster, amount, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(f.coreAddress, 0n, amount);
    });

    it("reverts with DDCZeroAmount and ClusterNotFound", async function () {
      const f = await loadFixture(permitFixture);
      const deadline = BigInt(await time.latest()) + DAY;
      const sig = await signPermit(f, f.payer, 0n, deadline);
      await expect(
        f.ddc.connect(f.payer).accountDepositWithPermit(f.cluster, 0n, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(f.ddc, "DDCZeroAmount");
      const sig2 = await signPermit(f, f.payer, USD, deadline);
      await expect(f.ddc.connect(f.payer).accountDepositWithPermit(5n, USD, deadline, sig2.v, sig2.r, sig2.s))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(5n);
    });
  });

  describe("accountUnlock", function () {
    it("announces an amount unlocked after the unlock delay", async function () {
      const f = await loadFixture(exampleFixture);
      const t = BigInt(await time.latest()) + 50n;
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, 300n * USD))
        .to.emit(f.ddc, "UnlockRequested")
        .withArgs(f.owner1.address, f.cluster, 300n * USD, t + UNLOCK_DELAY);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.unlockAmount).to.equal(300n * USD);
      expect(ledger.unlockAt).to.equal(t + UNLOCK_DELAY);
    });

    it("replaces an earlier announcement, restarting the delay", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 300n * USD);
      const t = BigInt(await time.latest()) + 3n * DAY;
      await time.setNextBlockTimestamp(t);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 100n * USD);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.unlockAmount).to.equal(100n * USD);
      expect(ledger.unlockAt).to.equal(t + UNLOCK_DELAY);
    });

    it("cancels with 0: nothing can be withdrawn afterwards", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 300n * USD);
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, 0n))
        .to.emit(f.ddc, "UnlockRequested")
        .withArgs(f.owner1.address, f.cluster, 0n, 0n);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect([ledger.unlockAmount, ledger.unlockAt]).to.deep.equal([0n, 0n]);
      await time.increase(UNLOCK_DELAY + 1n);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, USD, f.owner1.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerLocked")
        .withArgs(f.owner1.address, f.cluster, 0n);
    });

    it("reverts with ClusterNotFound, and with LedgerInsufficientFree above 112 bits", async function () {
      const f = await loadFixture(ledgerFixture);
      await expect(f.ddc.connect(f.owner1).accountUnlock(3n, USD))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(3n);
      const t = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, 1n << 112n, MINE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner1.address, f.cluster, f.deposit - rent(10n, t - f.allocatedAt) - runway(10n), 1n << 112n);
    });

    it("refuses more than is free now (balance − rent accrued − runway), accepts exactly that, and settles nothing", async function () {
      const f = await loadFixture(ledgerFixture);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 100n * USD);
      const before = await f.ddc.getLedger(f.owner1.address, f.cluster);
      const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
      // No settlement since the allocation: the rent since then is owed, and the runway of 10 units kept.
      const t1 = BigInt(await time.latest()) + 100n;
      const free1 = f.deposit - rent(10n, t1 - f.allocatedAt) - runway(10n);
      expect(free1).to.be.lessThan(f.deposit - runway(10n));
      await time.setNextBlockTimestamp(t1);
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, free1 + 1n, MINE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner1.address, f.cluster, free1, free1 + 1n);
      // A refusal leaves the earlier announcement as it was.
      const refused = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect([refused.unlockAmount, refused.unlockAt]).to.deep.equal([before.unlockAmount, before.unlockAt]);

      const t2 = t1 + 1n;
      const free2 = f.deposit - rent(10n, t2 - f.allocatedAt) - runway(10n);
      await time.setNextBlockTimestamp(t2);
      const receipt = await mined(f.ddc.connect(f.owner1).accountUnlock(f.cluster, free2));
      const names = receipt.logs.map((log) => f.ddc.interface.parseLog(log)?.name);
      expect(names, "a notice only: no settlement").to.deep.equal(["UnlockRequested"]);
      const after = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect([after.unlockAmount, after.unlockAt]).to.deep.equal([free2, t2 + UNLOCK_DELAY]);
      expect(after.balance, "not settled").to.equal(before.balance);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(pool);
    });

    it("refuses any amount on an empty ledger, naming 0 free; 0 still cancels", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.stranger).accountUnlock(f.cluster, 1n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.stranger.address, f.cluster, 0n, 1n);
      await expect(f.ddc.connect(f.stranger).accountUnlock(f.cluster, 0n))
        .to.emit(f.ddc, "UnlockRequested")
        .withArgs(f.stranger.address, f.cluster, 0n, 0n);
    });

    it("refuses a ledger whose balance is all runway, and accepts all of it once the buckets are closed", async function () {
      const f = await loadFixture(arrearsFixture);
      // Owner 2: 10 tUSD, 10 units; the runway (9.33 tUSD) leaves 0.67 tUSD less the rent.
      const t = f.allocated2At + DAY;
      expect(rent2(f, t) + runway(10n)).to.be.greaterThan(SMALL_DEPOSIT);
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.owner2).accountUnlock(f.cluster, 1n, MINE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner2.address, f.cluster, 0n, 1n);
      const closedAt = await minedAt(f.ddc.connect(f.owner2).bucketClose(f.bucket2));
      const left = SMALL_DEPOSIT - rent2(f, closedAt);
      await expect(f.ddc.connect(f.owner2).accountUnlock(f.cluster, left + 1n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner2.address, f.cluster, left, left + 1n);
      await expect(f.ddc.connect(f.owner2).accountUnlock(f.cluster, left)).to.emit(f.ddc, "UnlockRequested");
    });

    it("refuses a ledger that ran out, before and after a settlement records it, and one with debt", async function () {
      const f = await loadFixture(arrearsFixture);
      const refuse = async (at: bigint) => {
        await time.setNextBlockTimestamp(at);
        await expect(f.ddc.connect(f.owner2).accountUnlock(f.cluster, 1n, MINE))
          .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
          .withArgs(f.owner2.address, f.cluster, 0n, 1n);
      };
      // Ran out, not settled yet: the rent accrued since the checkpoint passes the balance.
      await refuse(f.runOut + 10n);
      // Settled in a batch: arrears mode.
      await settleAt(f, f.runOut + 20n, f.cluster, [f.bucket2]);
      await refuse(f.runOut + 30n);
      // A deposit smaller than the debt: the debt is recorded, the balance 0.
      await time.setNextBlockTimestamp(f.runOut + 40n);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect([ledger.balance, ledger.debt > 0n]).to.deep.equal([0n, true]);
      await refuse(f.runOut + 50n);
    });

    it("works while paused", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, 100n * USD)).to.emit(f.ddc, "UnlockRequested");
      await expect(f.ddc.connect(f.stranger).accountUnlock(f.cluster, 1n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.stranger.address, f.cluster, 0n, 1n);
    });
  });

  describe("accountWithdraw", function () {
    it("reverts with LedgerLocked(owner, cluster, 0) when nothing is unlocked", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, USD, f.owner1.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerLocked")
        .withArgs(f.owner1.address, f.cluster, 0n);
    });

    it("reverts with LedgerLocked(owner, cluster, unlockAt) one second early and withdraws at unlockAt", async function () {
      const f = await loadFixture(exampleFixture);
      const unlockAt = (await minedAt(f.ddc.connect(f.owner1).accountUnlock(f.cluster, 100n * USD))) + UNLOCK_DELAY;
      await time.setNextBlockTimestamp(unlockAt - 1n);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 100n * USD, f.owner1.address, MINE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerLocked")
        .withArgs(f.owner1.address, f.cluster, unlockAt);
      await time.setNextBlockTimestamp(unlockAt);
      await expect(
        f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 100n * USD, f.owner1.address),
      ).to.changeTokenBalances(f.token, [f.owner1, f.core], [100n * USD, -100n * USD]);
    });

    it("reverts with LedgerUnlockExceeded(owner, cluster, unlocked, requested)", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 100n * USD);
      await time.increase(UNLOCK_DELAY);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 100n * USD + 1n, f.owner1.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerUnlockExceeded")
        .withArgs(f.owner1.address, f.cluster, 100n * USD, 100n * USD + 1n);
    });

    it('reverts with DDCZeroAmount, DDCZeroAddress("to") and ClusterNotFound', async function () {
      const f = await loadFixture(exampleFixture);
      const ddc = f.ddc.connect(f.owner1);
      await expect(ddc.accountWithdraw(f.cluster, 0n, f.owner1.address)).to.be.revertedWithCustomError(
        f.ddc,
        "DDCZeroAmount",
      );
      await expect(ddc.accountWithdraw(f.cluster, USD, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(ethers.encodeBytes32String("to"));
      await expect(ddc.accountWithdraw(4n, USD, f.owner1.address))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(4n);
    });

    it("settles, then keeps the runway: LedgerInsufficientFree(owner, cluster, free, requested)", async function () {
      const f = await loadFixture(ledgerFixture);
      // All that is free at the unlock: the rent of the wait makes it too much at the withdrawal.
      const t0 = BigInt(await time.latest()) + 1n;
      const free0 = f.deposit - rent(10n, t0 - f.allocatedAt) - runway(10n);
      await time.setNextBlockTimestamp(t0);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, free0);
      await time.increase(UNLOCK_DELAY);
      const t1 = BigInt(await time.latest()) + 10n;
      const free1 = f.deposit - rent(10n, t1 - f.allocatedAt) - runway(10n);
      await time.setNextBlockTimestamp(t1);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, free0, f.owner1.address, MINE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner1.address, f.cluster, free1, free0);

      const t2 = t1 + 10n;
      const paid = rent(10n, t2 - f.allocatedAt);
      const free2 = f.deposit - paid - runway(10n);
      await time.setNextBlockTimestamp(t2);
      const tx = f.ddc.connect(f.owner1).accountWithdraw(f.cluster, free2, f.others[1].address);
      await expect(tx)
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner1.address, f.cluster, paid, 0n)
        .and.to.emit(f.ddc, "Withdrawn")
        .withArgs(f.owner1.address, f.cluster, f.others[1].address, free2);
      await expect(tx).to.changeTokenBalances(f.token, [f.others[1], f.owner1, f.core], [free2, 0n, -free2]);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.balance).to.equal(runway(10n));
      expect(ledger.free).to.equal(0n);
      expect(ledger.unlockAmount).to.equal(free0 - free2);
      expect(ledger.unlockAt).to.not.equal(0n);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(paid);
    });

    it("reverts with LedgerInsufficientFree(…, 0, …) for a ledger in arrears", async function () {
      const f = await loadFixture(arrearsFixture);
      await f.ddc.connect(f.owner2).accountUnlock(f.cluster, 1n);
      await time.increaseTo(f.runOut + 1n);
      await expect(f.ddc.connect(f.owner2).accountWithdraw(f.cluster, 1n, f.owner2.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner2.address, f.cluster, 0n, 1n);
    });

    it("withdrawing the whole unlocked amount clears the announcement", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, 60n * USD);
      await time.increase(UNLOCK_DELAY);
      await f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 20n * USD, f.owner1.address);
      const partial = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(partial.unlockAmount).to.equal(40n * USD);
      await f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 40n * USD, f.owner1.address);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect([ledger.unlockAmount, ledger.unlockAt]).to.deep.equal([0n, 0n]);
      await expect(f.ddc.connect(f.owner1).accountWithdraw(f.cluster, 1n, f.owner1.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerLocked")
        .withArgs(f.owner1.address, f.cluster, 0n);
    });

    it("withdraws everything after the buckets are closed", async function () {
      const f = await loadFixture(ledgerFixture);
      const closedAt = await minedAt(f.ddc.connect(f.owner1).bucketClose(f.bucket));
      const balance = f.deposit - rent(10n, closedAt - f.allocatedAt);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(balance);
      await f.ddc.connect(f.owner1).accountUnlock(f.cluster, balance);
      await time.increase(UNLOCK_DELAY + 30n * DAY);
      await expect(
        f.ddc.connect(f.owner1).accountWithdraw(f.cluster, balance, f.owner1.address),
      ).to.changeTokenBalances(f.token, [f.owner1, f.core], [balance, -balance]);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect([ledger.balance, ledger.debt, ledger.free]).to.deep.equal([0n, 0n, 0n]);
      // Conservation: the core holds exactly the revenue pool now.
      expect(await f.token.balanceOf(f.coreAddress)).to.equal((await f.ddc.getCluster(f.cluster)).revenuePool);
    });
  });

  describe("bucketSettlePayment", function () {
    it("charges exactly floor(units × ΔI / MONTH) into the revenue pool", async function () {
      const f = await loadFixture(ledgerFixture);
      const t = f.allocatedAt + 12_345n;
      await time.setNextBlockTimestamp(t);
      const paid = rent(10n, 12_345n);
      const receipt = await mined(f.ddc.connect(f.stranger).bucketSettlePayment(f.cluster, [f.bucket]));
      const event = settledEvent(f, receipt);
      expect(event.cluster).to.equal(f.cluster);
      expect(event.total).to.equal(paid);
      expect(event.entries).to.deep.equal([{ id: f.bucket, paid, debt: 0n }]);
      const cluster = await f.ddc.getCluster(f.cluster);
      expect(cluster.index - f.indexAtAlloc).to.equal(PRICE * 12_345n);
      expect(cluster.revenuePool).to.equal(paid);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(f.deposit - paid);
      expect(await f.token.balanceOf(f.coreAddress)).to.equal(f.deposit);
    });

    it("emits a record of 36 bytes per bucket: uint64 id | uint112 paid | uint112 debt, big-endian", async function () {
      const f = await loadFixture(arrearsFixture);
      const t = f.runOut + 500n;
      const paid1 = rent(10n, t - f.allocatedAt);
      const debt2 = rent2(f, t) - SMALL_DEPOSIT;
      const expected = [
        { id: f.bucket, paid: paid1, debt: 0n },
        { id: f.bucket2, paid: SMALL_DEPOSIT, debt: debt2 },
        { id: f.bucket, paid: 0n, debt: 0n },
      ];
      // The decoder itself, on a record packed by hand.
      expect(decodeRecord(encodeRecord(expected))).to.deep.equal(expected);
      expect(decodeRecord("0x" + "0102030405060708" + "00".repeat(13) + "2a" + "ff".repeat(14))).to.deep.equal([
        { id: 0x0102030405060708n, paid: 42n, debt: (1n << 112n) - 1n },
      ]);

      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.bucketSettlePayment(f.cluster, [f.bucket, f.bucket2, f.bucket]))
        .to.emit(f.ddc, "PaymentsSettled")
        .withArgs(f.cluster, paid1 + SMALL_DEPOSIT, encodeRecord(expected));
    });

    it("records every bucket in batch order; a ledger without units pays 0", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      const event = settledEvent(f, await mined(f.ddc.bucketSettlePayment(f.cluster, [2n, 1n, 2n])));
      expect(event.entries.map((e) => e.id)).to.deep.equal([2n, 1n, 2n]);
      expect(event.entries[0]).to.deep.equal({ id: 2n, paid: 0n, debt: 0n });
      expect(event.entries[2]).to.deep.equal({ id: 2n, paid: 0n, debt: 0n });
      expect(event.total).to.equal(event.entries[1].paid);
    });

    it("charges once for two settlements in the same block", async function () {
      const f = await loadFixture(ledgerFixture);
      const t = f.allocatedAt + 86_400n;
      await network.provider.send("evm_setAutomine", [false]);
      let first: ContractTransactionResponse;
      let second: ContractTransactionResponse;
      try {
        first = await f.ddc.connect(f.stranger).bucketSettlePayment(f.cluster, [f.bucket], MINE);
        second = await f.ddc.connect(f.owner2).bucketSettlePayment(f.cluster, [f.bucket], MINE);
        await time.setNextBlockTimestamp(t);
        await network.provider.send("evm_mine", []);
      } finally {
        await network.provider.send("evm_setAutomine", [true]);
      }
      const r1 = await mined(Promise.resolve(first));
      const r2 = await mined(Promise.resolve(second));
      expect(r1.blockNumber).to.equal(r2.blockNumber);
      const paid = rent(10n, 86_400n);
      expect(settledEvent(f, r1).entries).to.deep.equal([{ id: f.bucket, paid, debt: 0n }]);
      expect(settledEvent(f, r2).entries).to.deep.equal([{ id: f.bucket, paid: 0n, debt: 0n }]);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(paid);
    });

    it("k settlements pay exactly what one settlement pays, to the unit", async function () {
      const offsets = [7n, 1000n, 1001n, 86_413n, 999_999n, 2_600_003n];
      let f = await loadFixture(ledgerFixture);
      for (const dt of offsets) {
        await settleAt(f, f.allocatedAt + dt, f.cluster, [f.bucket]);
        // After each settlement, everything charged so far is the rent over the whole span.
        expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(rent(10n, dt));
      }
      const poolK = (await f.ddc.getCluster(f.cluster)).revenuePool;
      const balanceK = (await f.ddc.getLedger(f.owner1.address, f.cluster)).balance;

      f = await loadFixture(ledgerFixture); // back to the allocation
      const last = offsets[offsets.length - 1];
      const once = await settleAt(f, f.allocatedAt + last, f.cluster, [f.bucket]);
      expect(once.total).to.equal(poolK);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(balanceK);
      expect(poolK).to.equal(rent(10n, last));
      // Without the carried remainder the k settlements would have paid less.
      const truncated = offsets.reduce((acc, dt, i) => acc + rent(10n, dt - (i === 0 ? 0n : offsets[i - 1])), 0n);
      expect(truncated).to.be.lessThan(poolK);
    });

    it("a partial payment empties the balance and makes the shortfall debt", async function () {
      const f = await loadFixture(arrearsFixture);
      const t = f.runOut + 1000n;
      const owed = rent2(f, t);
      const event = await settleAt(f, t, f.cluster, [f.bucket2]);
      expect(event.total).to.equal(SMALL_DEPOSIT);
      expect(event.entries).to.deep.equal([{ id: f.bucket2, paid: SMALL_DEPOSIT, debt: owed - SMALL_DEPOSIT }]);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(0n);
      expect(ledger.debt).to.equal(owed - SMALL_DEPOSIT);
      expect(ledger.owed).to.equal(0n);
      expect(ledger.arrearsSince).to.equal(f.runOut);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.InArrears);
    });

    it("a ledger already in arrears pays 0 and its debt grows by exactly the rent", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 1000n, f.cluster, [f.bucket2]);
      const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
      const t = f.runOut + 1000n + 3n * DAY + 17n;
      const event = await settleAt(f, t, f.cluster, [f.bucket2]);
      const debt = rent2(f, t) - SMALL_DEPOSIT;
      expect(event.total).to.equal(0n);
      expect(event.entries).to.deep.equal([{ id: f.bucket2, paid: 0n, debt }]);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(pool);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.debt).to.equal(debt);
      expect(ledger.balance).to.equal(0n);
    });

    it("repays debt first: a deposit below the debt all goes to it at once, a larger one clears it", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 1000n, f.cluster, [f.bucket2]);
      const small = 10_000n; // 0.01 tUSD, below the debt
      const t0 = f.runOut + 2000n;
      await time.setNextBlockTimestamp(t0);
      await expect(f.ddc.connect(f.owner2).accountDeposit(f.cluster, small))
        .to.emit(f.ddc, "LedgerSettled")
        .withArgs(f.owner2.address, f.cluster, small, rent2(f, t0) - SMALL_DEPOSIT - small);
      let ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(0n);
      expect(ledger.arrearsSince).to.equal(f.runOut); // still the same arrears period

      const t1 = f.runOut + 3000n;
      const e1 = await settleAt(f, t1, f.cluster, [f.bucket2]);
      const debt1 = rent2(f, t1) - SMALL_DEPOSIT - small;
      expect(debt1).to.be.greaterThan(0n);
      expect(e1.entries).to.deep.equal([{ id: f.bucket2, paid: 0n, debt: debt1 }]);

      const big = 100n * USD;
      const t2 = t1 + 1000n;
      await time.setNextBlockTimestamp(t2);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, big);
      const paid2 = rent2(f, t2) - SMALL_DEPOSIT - small;
      ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.debt).to.equal(0n);
      expect(ledger.arrearsSince).to.equal(0n);
      expect(ledger.balance).to.equal(big - paid2);
      expect(await f.ddc.bucketStatus(f.bucket2)).to.equal(Status.Active);
      // Owner 2 paid its rent since the allocation in full, and the pool has all of it.
      expect(SMALL_DEPOSIT + small + paid2).to.equal(rent2(f, t2));
    });

    it("reverts with BucketNotFound and BucketNotInCluster for a bucket of another cluster", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await f.ddc.connect(f.owner2).bucketCreate(2n, "");
      await expect(f.ddc.bucketSettlePayment(f.cluster, [f.bucket, 2n]))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotInCluster")
        .withArgs(2n, f.cluster);
      await expect(f.ddc.bucketSettlePayment(2n, [f.bucket]))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotInCluster")
        .withArgs(f.bucket, 2n);
      await expect(f.ddc.bucketSettlePayment(f.cluster, [f.bucket, 3n]))
        .to.be.revertedWithCustomError(f.ddc, "BucketNotFound")
        .withArgs(3n);
      await expect(f.ddc.bucketSettlePayment(3n, []))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(3n);
    });

    it("accepts an empty batch and 1200 buckets, and reverts with DDCBatchTooLarge(1201, 1200)", async function () {
      const f = await loadFixture(ledgerFixture);
      const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
      await expect(f.ddc.bucketSettlePayment(f.cluster, []))
        .to.emit(f.ddc, "PaymentsSettled")
        .withArgs(f.cluster, 0n, "0x");
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(pool);

      await expect(f.ddc.bucketSettlePayment(f.cluster, Array<bigint>(1201).fill(f.bucket)))
        .to.be.revertedWithCustomError(f.ddc, "DDCBatchTooLarge")
        .withArgs(1201n, 1200n);
      const t = f.allocatedAt + 1000n;
      await time.setNextBlockTimestamp(t);
      const receipt = await mined(f.ddc.bucketSettlePayment(f.cluster, Array<bigint>(1200).fill(f.bucket)));
      const event = settledEvent(f, receipt);
      expect(event.entries.length).to.equal(1200);
      expect(event.total).to.equal(rent(10n, 1000n));
      expect(event.entries[0].paid).to.equal(rent(10n, 1000n));
      expect(event.entries.slice(1).every((e) => e.id === f.bucket && e.paid === 0n && e.debt === 0n)).to.equal(true);
    });
  });

  describe("views: getLedger, rentCoveredUntil, accountFreeBalance", function () {
    it("an empty ledger: zeros, covered forever", async function () {
      const f = await loadFixture(exampleFixture);
      const ledger = await f.ddc.getLedger(f.stranger.address, f.cluster);
      expect([ledger.balance, ledger.debt, ledger.units, ledger.owed, ledger.free, ledger.runway]).to.deep.equal([
        0n,
        0n,
        0n,
        0n,
        0n,
        0n,
      ]);
      expect(ledger.coveredUntil).to.equal(MAX_UINT40);
      expect(ledger.arrearsSince).to.equal(0n);
      expect(await f.ddc.rentCoveredUntil(f.stranger.address, f.cluster)).to.equal(MAX_UINT40);
    });

    it("a ledger without units: all of the balance is free", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 5n * USD);
      await time.increase(MONTH);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(5n * USD);
      expect(ledger.free).to.equal(5n * USD);
      expect(ledger.owed).to.equal(0n);
      expect(ledger.coveredUntil).to.equal(MAX_UINT40);
      expect(await f.ddc.accountFreeBalance(f.owner2.address, f.cluster)).to.equal(5n * USD);
    });

    it("live figures: balance, owed, runway, free, coveredUntil", async function () {
      const f = await loadFixture(ledgerFixture);
      const dt = 3n * DAY + 11n;
      await time.increaseTo(f.allocatedAt + dt);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      const owed = rent(10n, dt);
      expect(ledger.balance).to.equal(f.deposit);
      expect(ledger.debt).to.equal(0n);
      expect(ledger.units).to.equal(10n);
      expect(ledger.owed).to.equal(owed);
      expect(ledger.runway).to.equal(9_333_334n);
      expect(ledger.free).to.equal(f.deposit - owed - 9_333_334n);
      expect(ledger.arrearsSince).to.equal(0n);
      expect(ledger.coveredUntil).to.equal(f.allocatedAt + runOutAfter(f.deposit, 10n));
      expect(await f.ddc.accountFreeBalance(f.owner1.address, f.cluster)).to.equal(ledger.free);
      expect(await f.ddc.rentCoveredUntil(f.owner1.address, f.cluster)).to.equal(ledger.coveredUntil);
    });

    it("coveredUntil is the exact second the balance runs out", async function () {
      const f = await loadFixture(arrearsFixture);
      expect(await f.ddc.rentCoveredUntil(f.owner2.address, f.cluster)).to.equal(f.runOut);
      await time.increaseTo(f.runOut - 1n);
      let ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.owed).to.equal(SMALL_DEPOSIT); // still covered, to the unit
      expect(ledger.coveredUntil).to.equal(f.runOut);
      expect(ledger.arrearsSince).to.equal(0n);
      await time.increaseTo(f.runOut);
      ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.owed).to.be.greaterThan(SMALL_DEPOSIT);
      expect(ledger.arrearsSince).to.equal(f.runOut);
      expect(ledger.coveredUntil).to.equal(f.runOut);
      expect(ledger.free).to.equal(0n);
      expect(await f.ddc.accountFreeBalance(f.owner2.address, f.cluster)).to.equal(0n);
    });

    it("coveredUntil does not move when the ledger is settled (the remainder is carried)", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.allocated2At + 12_347n, f.cluster, [f.bucket2]);
      expect(await f.ddc.rentCoveredUntil(f.owner2.address, f.cluster)).to.equal(f.runOut);
      await settleAt(f, f.allocated2At + 500_001n, f.cluster, [f.bucket2]);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.balance).to.equal(SMALL_DEPOSIT - rent(10n, 500_001n));
      expect(ledger.coveredUntil).to.equal(f.runOut);
    });

    it("arrearsSince stays the run-out time through batch and single settlements", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 5000n, f.cluster, [f.bucket2]);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(f.runOut);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1n); // single settlement: debt recorded, 1 repaid
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.arrearsSince).to.equal(f.runOut);
      expect(ledger.coveredUntil).to.equal(f.runOut);
      expect(ledger.balance).to.equal(0n);
      expect(ledger.debt).to.be.greaterThan(0n);
    });

    it("after a deposit covering the debt, coveredUntil is when the new balance runs out", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 100n, f.cluster, [f.bucket2]);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 50n * USD);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.arrearsSince).to.equal(0n);
      expect(ledger.coveredUntil).to.equal(f.allocated2At + runOutAfter(SMALL_DEPOSIT + 50n * USD, 10n));
    });

    it("arrearsSince is the new run-out time when a topped-up balance runs out again", async function () {
      const f = await loadFixture(arrearsFixture);
      await settleAt(f, f.runOut + 100n, f.cluster, [f.bucket2]);
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 50n * USD);
      const newRunOut = f.allocated2At + runOutAfter(SMALL_DEPOSIT + 50n * USD, 10n);
      await time.increaseTo(newRunOut);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(newRunOut);
      await settleAt(f, newRunOut + 10n, f.cluster, [f.bucket2]);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(newRunOut);
    });

    it("arrearsSince stays exact after a later price change (found through the checkpoints)", async function () {
      const f = await loadFixture(arrearsFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, RENT / 2n);
      await time.setNextBlockTimestamp(f.runOut + 3000n);
      await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1); // a decrease: applied now
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(3n * RENT);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(f.runOut);
      await settleAt(f, f.runOut + 4000n, f.cluster, [f.bucket2]);
      await f.ddc.connect(f.owner2).bucketSetCap(f.bucket2, 10n); // single settlement records the start
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect(ledger.arrearsSince).to.equal(f.runOut);
      expect(ledger.coveredUntil).to.equal(f.runOut);
    });

    it("revert with ClusterNotFound for an unknown cluster", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.getLedger(f.owner1.address, 2n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(2n);
      await expect(f.ddc.rentCoveredUntil(f.owner1.address, 2n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(2n);
      await expect(f.ddc.accountFreeBalance(f.owner1.address, 2n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(2n);
    });
  });

  describe("price changes", function () {
    /** node1 (two vNodes) asks 3 tUSD: the cluster's target goes from 4 to 8 tUSD, with notice. */
    async function scheduleIncrease(f: LedgerFixture): Promise<bigint> {
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, 3n * RENT);
      const receipt = await mined(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1));
      return (await blockTime(receipt)) + BigInt(14 * 24 * 60 * 60); // priceNotice > unlockDelay
    }

    it("owed uses the old price until the effective time and the new one after", async function () {
      const f = await loadFixture(ledgerFixture);
      const effectiveAt = await scheduleIncrease(f);
      const cluster = await f.ddc.getCluster(f.cluster);
      expect([cluster.price, cluster.pendingPrice, cluster.pendingPriceAt]).to.deep.equal([
        PRICE,
        8n * RENT,
        effectiveAt,
      ]);
      const before = effectiveAt - f.allocatedAt;
      await time.increaseTo(effectiveAt);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).owed).to.equal(rent(10n, before));
      expect((await f.ddc.getCluster(f.cluster)).index - f.indexAtAlloc).to.equal(PRICE * before);

      await time.increaseTo(effectiveAt + 1000n);
      const owed = (10n * (PRICE * before + 8n * RENT * 1000n)) / MONTH;
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).owed).to.equal(owed);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(8n * RENT);

      const event = await settleAt(f, effectiveAt + 2000n, f.cluster, [f.bucket]);
      expect(event.total).to.equal((10n * (PRICE * before + 8n * RENT * 2000n)) / MONTH);
    });

    it("a settlement before the effective time and one after charge the same as one after", async function () {
      const f = await loadFixture(ledgerFixture);
      const effectiveAt = await scheduleIncrease(f);
      await settleAt(f, effectiveAt - 333n, f.cluster, [f.bucket]);
      await settleAt(f, effectiveAt + 777n, f.cluster, [f.bucket]);
      const expected = (10n * (PRICE * (effectiveAt - f.allocatedAt) + 8n * RENT * 777n)) / MONTH;
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(expected);
    });

    it("the runway uses the announced price at once", async function () {
      const f = await loadFixture(ledgerFixture);
      await scheduleIncrease(f);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).runway).to.equal(runway(10n, 8n * RENT));
    });

    it("an allocation needs the runway at the announced price", async function () {
      const f = await loadFixture(ledgerFixture);
      await scheduleIncrease(f);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, runway(10n));
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientRunway")
        .withArgs(f.owner2.address, f.cluster, runway(10n), runway(10n, 8n * RENT));
    });

    it("coveredUntil follows the scheduled price", async function () {
      const f = await loadFixture(ledgerFixture);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 20n * USD);
      const allocated2At = await minedAt(f.ddc.connect(f.owner2).bucketAllocIntoCluster(2n, 10n));
      const effectiveAt = await scheduleIncrease(f);
      // At 4 tUSD the 20 tUSD would last ~15 days, past the effective time (14 days).
      expect(allocated2At + runOutAfter(20n * USD, 10n)).to.be.greaterThan(effectiveAt);
      const spentBefore = 10n * PRICE * (effectiveAt - allocated2At);
      const expected = effectiveAt + ceilDiv((20n * USD + 1n) * MONTH - spentBefore, 10n * 8n * RENT);
      expect(await f.ddc.rentCoveredUntil(f.owner2.address, f.cluster)).to.equal(expected);
      await time.increaseTo(expected - 1n);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(0n);
      await time.increaseTo(expected);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).arrearsSince).to.equal(expected);
    });

    it("a decrease applies at once", async function () {
      const f = await loadFixture(ledgerFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, RENT / 2n);
      const t = f.allocatedAt + 100n;
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1))
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, PRICE, 3n * RENT, f.indexAtAlloc + PRICE * (t - f.allocatedAt));
      await time.increaseTo(t + 5000n);
      const owed = (10n * (PRICE * (t - f.allocatedAt) + 3n * RENT * 5000n)) / MONTH;
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).owed).to.equal(owed);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).runway).to.equal(runway(10n, 3n * RENT));
    });
  });
});
