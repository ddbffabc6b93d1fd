import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { DAY, deployCore, deployTestStablecoin } from "../deploy/core";

/** Bucket statuses, as the core's `BucketStatus` enum numbers them. */
export const STATUS = ["None", "Active", "InArrears", "Suspended", "Closed"] as const;

const USD = 1_000_000n;
const MONTH = 30n * BigInt(DAY);

function usd(amount: bigint): string {
  const sign = amount < 0n ? "-" : "";
  const abs = amount < 0n ? -amount : amount;
  return `${sign}${abs / USD}.${(abs % USD).toString().padStart(6, "0")} tUSD`;
}

/** One line of the story, with the figures it is about. */
export interface Step {
  at: number;
  what: string;
  figures: Record<string, string>;
}

export interface ExampleNetworkResult {
  steps: Step[];
  pool: bigint;
  ledger: { balance: bigint; debt: bigint };
  withdrawn: bigint;
  deposited: bigint;
  coreBalance: bigint;
  statuses: string[];
  /** When the bucket's units were allocated, and when the last settlement ran. */
  start: bigint;
  lastSettlement: bigint;
  /** The cluster price per unit per month and the bucket's units. */
  price: bigint;
  units: bigint;
  arrearsSince: bigint;
}

/**
 * The seed's example network on the embedded chain: two providers with a node each, a cluster of
 * four vNodes alternating between them, an owner with a bucket and a deposit; then time passes:
 * a month of rent is settled, the owner withdraws part of the deposit keeping the runway, the
 * balance runs out (arrears, then suspension after the grace period), and a new deposit repays
 * the debt. Returns every figure so a test can check them to the unit.
 */
export async function runExampleNetwork(log: (step: Step) => void = () => undefined): Promise<ExampleNetworkResult> {
  const [deployer, provider1, provider2, manager, owner, nodeKey1, nodeKey2, feeDestination] =
    await ethers.getSigners();
  const steps: Step[] = [];
  const note = async (what: string, figures: Record<string, string> = {}): Promise<void> => {
    const step = { at: await time.latest(), what, figures };
    steps.push(step);
    log(step);
  };

  const token = await deployTestStablecoin(deployer);
  const { ddc } = await deployCore(deployer, {
    token: await token.getAddress(),
    admin: deployer.address,
    parameters: {
      networkFeeBps: 500,
      feeDestination: feeDestination.address,
      unlockDelay: 7 * DAY,
      gracePeriod: 7 * DAY,
    },
  });
  const core = await ddc.getAddress();
  await note("deployed the payment token (tUSD) and the DDC core", { core, token: await token.getAddress() });

  const rent = 1n * USD; // per vNode per month per unit (1 GiB)
  const params = (url: string) => ({ engine: "ddc-storage", version: "1.0.0", urls: [url], metadata: "example node" });
  await ddc.connect(provider1).nodeCreate(nodeKey1.address, 1000n, rent, params("https://node-1.example"));
  await ddc.connect(provider2).nodeCreate(nodeKey2.address, 1000n, rent, params("https://node-2.example"));
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  await note(
    "providers 1 and 2 registered node 1 and node 2 (rent 1 tUSD per vNode per GiB-month) and trust the manager",
  );

  await ddc
    .connect(manager)
    .clusterCreate(
      manager.address,
      { replicationFactor: 2, eraLength: 3600, qosThreshold: 9000, managementFeeBps: 1000, priceNotice: 14 * DAY },
      1n << 30n,
    );
  const cluster = 1n;
  const q = 1n << 62n;
  await ddc.connect(manager).clusterAddNode(cluster, 1n, [0n, 2n * q]);
  await ddc.connect(manager).clusterAddNode(cluster, 2n, [q, 3n * q]);
  await ddc.connect(manager).clusterReserveResource(cluster, 100n);
  const c = await ddc.getCluster(cluster);
  await note(
    "the manager created cluster 1: vNodes 0→node 1, 1→node 2, 2→node 1, 3→node 2; 100 GiB reserved per vNode",
    {
      price: `${usd(c.price)} per GiB-month`,
    },
  );

  const deposited1 = 1000n * USD;
  await token.mint(owner.address, 10_000n * USD);
  await token.connect(owner).approve(core, ethers.MaxUint256);
  await ddc.connect(owner).bucketCreate(cluster, '{"engine":"ddc-storage"}');
  const bucket = 1n;
  await ddc.connect(owner).accountDeposit(cluster, deposited1);
  await ddc.connect(owner).bucketAllocIntoCluster(bucket, 10n);
  const start = BigInt(await time.latest());
  await note("the owner created bucket 1, deposited 1,000 tUSD and reserved 10 GiB", {
    rent: `${usd(10n * c.price)} per month`,
    coveredUntil: new Date(Number(await ddc.rentCoveredUntil(owner.address, cluster)) * 1000).toISOString(),
  });

  const statuses: string[] = [];
  const status = async (): Promise<string> => {
    const s = STATUS[Number(await ddc.bucketStatus(bucket))];
    statuses.push(s);
    return s;
  };

  // A month later, anyone settles: exactly one month of rent moves to the cluster's pool.
  await time.setNextBlockTimestamp(start + MONTH);
  await ddc.connect(provider1).bucketSettlePayment(cluster, [bucket]);
  let ledger = await ddc.getLedger(owner.address, cluster);
  await note("one month later, provider 1 settled the bucket (settlement is permissionless)", {
    pool: usd((await ddc.getCluster(cluster)).revenuePool),
    balance: usd(ledger.balance),
    status: await status(),
  });

  // The owner asks to withdraw 900 tUSD; after the unlock delay, what is free (keeping a runway
  // of grace-period rent) can leave.
  await ddc.connect(owner).accountUnlock(cluster, 900n * USD);
  await time.setNextBlockTimestamp(start + MONTH + 7n * BigInt(DAY) + 1n);
  await ethers.provider.send("evm_mine", []);
  const free = await ddc.accountFreeBalance(owner.address, cluster);
  const withdrawn = free < 900n * USD ? free : 900n * USD;
  await ddc.connect(owner).accountWithdraw(cluster, withdrawn, owner.address);
  ledger = await ddc.getLedger(owner.address, cluster);
  await note("the owner unlocked 900 tUSD and withdrew it 7 days later (at most what is free: the runway stays)", {
    free: usd(free),
    withdrawn: usd(withdrawn),
    balance: usd(ledger.balance),
    runway: usd(ledger.runway),
  });

  // The balance runs out: arrears, then suspension after the grace period, without anyone acting.
  const ranOut = BigInt(ledger.coveredUntil);
  await time.increaseTo(ranOut + 1n);
  await note("the balance ran out", { arrearsSince: String(ranOut), status: await status() });
  await time.increaseTo(ranOut + 7n * BigInt(DAY));
  await note("the grace period passed", { status: await status() });
  await ddc.connect(manager).bucketSettlePayment(cluster, [bucket]);
  ledger = await ddc.getLedger(owner.address, cluster);
  await note("the manager settled: the ledger paid what it had, the rest is debt", { debt: usd(ledger.debt) });

  // A new deposit repays the debt at once (it settles the ledger) and makes the bucket active.
  const deposited2 = 100n * USD;
  await ddc.connect(owner).accountDeposit(cluster, deposited2);
  const afterDeposit = await ddc.getLedger(owner.address, cluster);
  await note("the owner deposited 100 tUSD: the deposit repaid the debt first", {
    debt: usd(afterDeposit.debt),
    balance: usd(afterDeposit.balance),
    status: await status(),
  });
  const last = await (await ddc.connect(provider2).bucketSettlePayment(cluster, [bucket])).wait();
  const lastSettlement = BigInt((await ethers.provider.getBlock(last?.blockNumber ?? "latest"))?.timestamp ?? 0);
  ledger = await ddc.getLedger(owner.address, cluster);
  const pool = (await ddc.getCluster(cluster)).revenuePool;
  const coreBalance = await token.balanceOf(core);
  await note("provider 2 settled the rent accrued since", {
    debt: usd(ledger.debt),
    balance: usd(ledger.balance),
    pool: usd(pool),
    "core holds": usd(coreBalance),
  });
  return {
    steps,
    pool,
    ledger: { balance: ledger.balance, debt: ledger.debt },
    withdrawn,
    deposited: deposited1 + deposited2,
    coreBalance,
    statuses,
    start,
    lastSettlement,
    price: c.price,
    units: 10n,
    arrearsSince: ranOut,
  };
}
