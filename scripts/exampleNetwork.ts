import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { DAY, DEFAULT_CLUSTER_PARAMS, deployCore, deployTestStablecoin } from "../deploy/core";
import type { IDDC, TestStablecoin } from "../typechain-types";

/** Bucket statuses, as the core's `BucketStatus` enum numbers them. */
export const STATUS = ["None", "Active", "InArrears", "Suspended", "Closed"] as const;

const USD = 1_000_000n;
const MONTH = 30n * BigInt(DAY);

/** The cluster's settings: replication 2, hourly eras, QoS threshold 90 %, a 10 % management fee. */
const CLUSTER_PARAMS = DEFAULT_CLUSTER_PARAMS;

function nodeParams(url: string) {
  return { engine: "ddc-storage", version: "1.0.0", urls: [url], metadata: "example node" };
}

function date(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

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
  /** The second part: revenue distributed era by era, a node replaced, everyone paid. */
  revenue: RevenueStory;
}

/** One distribution of the cluster's pool, with the split the core reported (`RevenuesDistributed`). */
export interface Distribution {
  era: bigint;
  /** When the pool's rent was settled (the era's end), and when the distribution ran (a second later). */
  settledAt: bigint;
  at: bigint;
  ineligible: bigint[];
  amount: bigint;
  networkFee: bigint;
  managementFee: bigint;
  toNodes: bigint;
  toReserve: bigint;
}

export interface RevenueStory {
  /** When node 3 joined (its rent comes into force a notice later) and when node 4 replaced node 2. */
  node3AddedAt: bigint;
  replacedAt: bigint;
  distributions: Distribution[];
  /** Token balances at the end: every party's wallet and the core's. */
  balances: {
    owner: bigint;
    provider1: bigint;
    provider2: bigint;
    provider3: bigint;
    provider4: bigint;
    manager: bigint;
    feeDestination: bigint;
    core: bigint;
  };
  /** What the core owes at the end: the ledger, the pool, the reserve, unclaimed revenue, fee balances. */
  owed: { ledger: bigint; pool: bigint; reserve: bigint; unclaimed: bigint; feeBalances: bigint };
}

/**
 * The seed's example network on the embedded chain: two providers with a node each, a cluster of
 * four vNodes alternating between them, an owner with a bucket and a deposit; then time passes:
 * a month of rent is settled, the owner withdraws part of the deposit keeping the runway, the
 * balance runs out (arrears, then suspension after the grace period), and a new deposit repays
 * the debt. Then the revenue is distributed era by era, a failing node is replaced and everyone is
 * paid (see {revenueStory}). Returns every figure so a test can check them to the unit.
 */
export async function runExampleNetwork(log: (step: Step) => void = () => undefined): Promise<ExampleNetworkResult> {
  const signers = await ethers.getSigners();
  const [deployer, provider1, provider2, manager, owner, nodeKey1, nodeKey2, feeDestination] = signers;
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
  await ddc.connect(provider1).nodeCreate(nodeKey1.address, 1000n, rent, nodeParams("https://node-1.example"));
  await ddc.connect(provider2).nodeCreate(nodeKey2.address, 1000n, rent, nodeParams("https://node-2.example"));
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  await note(
    "providers 1 and 2 registered node 1 and node 2 (rent 1 tUSD per vNode per GiB-month) and trust the manager",
  );

  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, 1n << 30n);
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

  const revenue = await revenueStory({
    ddc,
    token,
    note,
    owner,
    manager,
    feeDestination,
    providers: [provider1, provider2, signers[8], signers[9]],
    nodeKeys: [signers[10], signers[11]],
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
    revenue,
  };
}

interface StoryContext {
  ddc: IDDC;
  token: TestStablecoin;
  note: (what: string, figures?: Record<string, string>) => Promise<void>;
  owner: HardhatEthersSigner;
  manager: HardhatEthersSigner;
  feeDestination: HardhatEthersSigner;
  /** Providers 1 to 4 (provider k runs node k). */
  providers: HardhatEthersSigner[];
  /** The signing keys of nodes 3 and 4. */
  nodeKeys: HardhatEthersSigner[];
}

/**
 * The second part of the story. The manager lengthens eras to a day and distributes the pool at
 * the end of an era. Provider 3 joins with node 3, whose rent (and so its weight) waits the price
 * notice; the era before it comes into force, and the next, are distributed. Node 2 then fails QoS
 * for an era: the distribution names it ineligible and its share goes to the reserve. The manager
 * replaces node 2 by provider 4's fresh node 4, another era is distributed, every provider claims
 * and the manager and the fee destination withdraw their fees.
 */
async function revenueStory(ctx: StoryContext): Promise<RevenueStory> {
  const { ddc, token, note, owner, manager, feeDestination, providers, nodeKeys } = ctx;
  const cluster = 1n;
  const bucket = 1n;
  const rent = 1n * USD;
  const q = 1n << 62n;
  const distributions: Distribution[] = [];
  const blockTime = async (tx: { wait(): Promise<{ blockNumber: number } | null> }): Promise<bigint> => {
    const receipt = await tx.wait();
    return BigInt((await ethers.provider.getBlock(receipt?.blockNumber ?? "latest"))?.timestamp ?? 0);
  };

  /**
   * At `end` (an era's end) the manager settles the bucket; a second later it distributes the era
   * that ended, naming `ineligible`, with the hash of the validators' scores as evidence.
   */
  const closeEra = async (end: bigint, ineligible: bigint[], scores: Record<string, number>): Promise<Distribution> => {
    await time.setNextBlockTimestamp(end);
    await ddc.connect(manager).bucketSettlePayment(cluster, [bucket]);
    const era = (await ddc.clusterEra(cluster))[0] - 1n;
    const evidence = ethers.id(
      JSON.stringify({ cluster: 1, era: Number(era), scores, ineligible: ineligible.map(Number) }),
    );
    await time.setNextBlockTimestamp(end + 1n);
    const receipt = await (
      await ddc.connect(manager).clusterDistributeRevenues(cluster, era, ineligible, evidence)
    ).wait();
    const event = receipt?.logs
      .map((log) => ddc.interface.parseLog(log))
      .find((parsed) => parsed?.name === "RevenuesDistributed");
    if (!event) throw new Error("example network: the distribution emitted no RevenuesDistributed");
    const d: Distribution = {
      era,
      settledAt: end,
      at: end + 1n,
      ineligible,
      amount: event.args.amount,
      networkFee: event.args.networkFee,
      managementFee: event.args.managementFee,
      toNodes: event.args.toNodes,
      toReserve: event.args.toReserve,
    };
    distributions.push(d);
    return d;
  };
  const split = (d: Distribution): Record<string, string> => ({
    distributed: usd(d.amount),
    "network fee (5 %)": usd(d.networkFee),
    "management fee (10 %)": usd(d.managementFee),
    "to the nodes": usd(d.toNodes),
    "to the reserve": usd(d.toReserve),
  });
  const eraEnd = async (): Promise<bigint> => (await ddc.clusterEra(cluster))[2];

  // The manager distributes the pool (everything settled so far) when the era ends, and from the
  // next era on makes eras a day long: validators score each node once a day.
  let d = await closeEra(await eraEnd(), [], { "node 1": 9950, "node 2": 9900 });
  await ddc.connect(manager).clusterChangeParams(cluster, { ...CLUSTER_PARAMS, eraLength: DAY });
  await note(`era ${d.era} ended: the manager settled the bucket and distributed the pool to nodes 1 and 2 (2:2)`, {
    ...split(d),
    "node 1 earned": usd(await ddc.nodeRevenue(1n)),
    "node 2 earned": usd(await ddc.nodeRevenue(2n)),
    "from the next era": "eras last a day",
  });

  // A third node, so that one node can fail without losing a replica (at most nodes − replication
  // factor may be named ineligible). It raises the price: its rent is in force only after the notice.
  const [provider1, provider2, provider3, provider4] = providers;
  await ddc.connect(provider3).nodeCreate(nodeKeys[0].address, 1000n, rent, nodeParams("https://node-3.example"));
  await ddc.connect(provider3).nodeTrustManager(manager.address);
  const dayStart = await eraEnd();
  await time.setNextBlockTimestamp(dayStart + 600n);
  const node3AddedAt = await blockTime(await ddc.connect(manager).clusterAddNode(cluster, 3n, [q / 2n, 5n * (q / 2n)]));
  let view = await ddc.getCluster(cluster);
  const riseAt = view.pendingPriceAt;
  await note("provider 3 registered node 3 (1 tUSD) and the manager added it with two vNodes (at 1/8 and 5/8)", {
    price: `${usd(view.price)} now, ${usd(view.pendingPrice)} from ${date(riseAt)}`,
    "node 3": "charged nothing, so weighing nothing, until its rent is in force",
  });

  // The era that ends just before node 3's rent comes into force is distributed (the eras in
  // between go with it: a skipped era's revenue goes with the next), then the era after.
  const beforeRise = riseAt - ((riseAt - dayStart) % BigInt(DAY) || BigInt(DAY));
  const healthy = { "node 1": 9950, "node 2": 9900, "node 3": 9870 };
  d = await closeEra(beforeRise, [], healthy);
  await note(`two weeks later era ${d.era} ended: distributed to nodes 1 and 2 (node 3 not charged yet: weight 0)`, {
    ...split(d),
    "node 3 earned": usd(await ddc.nodeRevenue(3n)),
  });
  d = await closeEra(beforeRise + BigInt(DAY), [], healthy);
  view = await ddc.getCluster(cluster);
  await note(`node 3's rent came into force; era ${d.era} ended: distributed to nodes 1, 2 and 3 (2:2:2)`, {
    price: `${usd(view.price)} per GiB-month`,
    ...split(d),
  });

  // Node 2 fails QoS for one era: the distribution names it ineligible, its share goes to the reserve.
  d = await closeEra(beforeRise + 2n * BigInt(DAY), [2n], { "node 1": 9940, "node 2": 6200, "node 3": 9910 });
  await note(`node 2 scored 62 % in era ${d.era} (threshold 90 %): named ineligible, its share went to the reserve`, {
    ...split(d),
    reserve: usd((await ddc.clusterRevenue(cluster)).reserve),
  });

  // The manager replaces node 2 by a fresh node 4, whose provider trusts the manager first.
  await ddc
    .connect(provider4)
    .nodeCreate(nodeKeys[1].address, 1000n, (3n * rent) / 2n, nodeParams("https://node-4.example"));
  await ddc.connect(provider4).nodeTrustManager(manager.address);
  const evidence = ethers.id(
    JSON.stringify({ cluster: 1, node: 2, replacements: [4, 4], era: Number(d.era), reason: "QoS below threshold" }),
  );
  const replacedAt = await blockTime(await ddc.connect(manager).clusterReplaceNode(cluster, 2n, [4n, 4n], evidence));
  view = await ddc.getCluster(cluster);
  await note(
    "provider 4 registered node 4 (asking 1.5 tUSD) and trusts the manager; the manager replaced node 2 by it",
    {
      evidence,
      "node 4": `holds node 2's two vNodes, charged node 2's ${usd(rent)} until the notice has passed`,
      price: `${usd(view.price)} now, ${usd(view.pendingPrice)} from ${date(view.pendingPriceAt)}`,
    },
  );

  d = await closeEra(beforeRise + 3n * BigInt(DAY), [], { "node 1": 9960, "node 3": 9900, "node 4": 9980 });
  await note(`era ${d.era} ended: distributed to nodes 1, 3 and 4 (2:2:2)`, split(d));

  // Everyone takes their money out.
  const claimed: Record<string, string> = {};
  for (const [i, provider] of providers.entries()) {
    const node = BigInt(i + 1);
    claimed[`provider ${node}, node ${node}`] = usd(await ddc.nodeRevenue(node));
    await ddc.connect(provider).claim([node], provider.address);
  }
  await note("every provider claimed its node's revenue", claimed);
  const fees: Record<string, string> = {};
  for (const [name, account] of [
    ["manager", manager],
    ["fee destination", feeDestination],
  ] as const) {
    const balance = await ddc.accountBalance(account.address);
    fees[name] = usd(balance);
    await ddc.connect(account).withdrawBalance(balance, account.address);
  }
  await note("the manager and the fee destination withdrew their fee balances", fees);

  const core = await ddc.getAddress();
  const balances = {
    owner: await token.balanceOf(owner.address),
    provider1: await token.balanceOf(provider1.address),
    provider2: await token.balanceOf(provider2.address),
    provider3: await token.balanceOf(provider3.address),
    provider4: await token.balanceOf(provider4.address),
    manager: await token.balanceOf(manager.address),
    feeDestination: await token.balanceOf(feeDestination.address),
    core: await token.balanceOf(core),
  };
  let unclaimed = 0n;
  for (let node = 1n; node <= 4n; node++) unclaimed += await ddc.nodeRevenue(node);
  const owed = {
    ledger: (await ddc.getLedger(owner.address, cluster)).balance,
    pool: (await ddc.getCluster(cluster)).revenuePool,
    reserve: (await ddc.clusterRevenue(cluster)).reserve,
    unclaimed,
    feeBalances: (await ddc.accountBalance(manager.address)) + (await ddc.accountBalance(feeDestination.address)),
  };
  await note("every wallet at the end, and what the core still holds", {
    owner: usd(balances.owner),
    "provider 1": usd(balances.provider1),
    "provider 2": usd(balances.provider2),
    "provider 3": usd(balances.provider3),
    "provider 4": usd(balances.provider4),
    manager: usd(balances.manager),
    "fee destination": usd(balances.feeDestination),
    "core holds": usd(balances.core),
    "the owner's ledger": usd(owed.ledger),
    "the cluster's reserve": usd(owed.reserve),
  });
  return { node3AddedAt, replacedAt, distributions, balances, owed };
}
