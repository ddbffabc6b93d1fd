import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, USD, coreFixture, type CoreFixture } from "../test/helpers/fixtures";
import { addManyNodes, buildPopulation, impersonate } from "../test/helpers/population";
import { NODE_PARAMS, RENT } from "../test/helpers/fixtures";

/**
 * Gas benchmark of the core: writes reports/gas.json (an array of { name, gas, n }) and
 * reports/gas.md (a table with the targets). Gas is exact and deterministic on the Hardhat network,
 * so every figure is compared with its target directly.
 */
interface Row {
  name: string;
  gas: number;
  n: number;
}

const GAS_CAP = 16_777_216;

async function gasOf(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> {
  const receipt = await (await tx).wait();
  if (receipt === null) throw new Error("no receipt");
  return Number(receipt.gasUsed);
}

/** A cluster of `nodes` nodes (one vNode each, rent 1 tUSD) with one owner's bucket paying into it. */
async function revenueCluster(f: CoreFixture, nodes: number): Promise<bigint> {
  const { ddc, manager } = f;
  await ddc.connect(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: 1 }, GIB);
  const cluster = await ddc.clusterCount();
  await addManyNodes(f, cluster, nodes, { capacity: 1000n });
  await ddc.connect(manager).clusterReserveResource(cluster, 100n);
  await f.token.mint(f.owner2.address, 1_000_000n * USD);
  await ddc.connect(f.owner2).accountDeposit(cluster, 100_000n * USD);
  await ddc.connect(f.owner2).bucketCreate(cluster, "");
  await ddc.connect(f.owner2).bucketAllocIntoCluster(await ddc.bucketCount(), 10n);
  await refill(f, cluster);
  return cluster;
}

/** A day of rent settled into the cluster's pool, and an era ended. */
async function refill(f: CoreFixture, cluster: bigint): Promise<void> {
  await time.increase(86_400);
  const bucket = (await f.ddc.getLedger(f.owner2.address, cluster)).units > 0n ? await lastBucketOf(f, cluster) : 0n;
  await f.ddc.bucketSettlePayment(cluster, [bucket]);
}

async function lastBucketOf(f: CoreFixture, cluster: bigint): Promise<bigint> {
  for (let b = await f.ddc.bucketCount(); b > 0n; b--) {
    const view = await f.ddc.getBucket(b);
    if (view.cluster === cluster && view.owner === f.owner2.address) return b;
  }
  throw new Error("no bucket");
}

/** A node of a fresh provider that trusts the manager, in no cluster. */
async function freshNode(f: CoreFixture, capacity: bigint): Promise<bigint> {
  const provider = await impersonate(ethers.Wallet.createRandom().address);
  await f.ddc.connect(provider).nodeCreate(ethers.Wallet.createRandom().address, capacity, RENT, NODE_PARAMS);
  await f.ddc.connect(provider).nodeTrustManager(f.manager.address);
  return f.ddc.nodeCount();
}

/** A fresh node takes every vNode of `node`. */
async function replaceGas(f: CoreFixture, cluster: bigint, node: bigint, capacity: bigint): Promise<number> {
  const vNodes = (await f.ddc.clusterNodeInfo(cluster, node)).tokens.length;
  const fresh = await freshNode(f, capacity);
  const replacements = Array.from({ length: vNodes }, () => fresh);
  return gasOf(f.ddc.connect(f.manager).clusterReplaceNode(cluster, node, replacements, ethers.ZeroHash));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const f = await coreFixture();
  const { ddc, owner1, owner2 } = f;

  // Settlement: every bucket with a different owner. Rows for 1, 100 and 1,000 buckets (deposits
  // cover the rent), then 1,200 on the worst path (every ledger goes into arrears).
  const pop = await buildPopulation(f, { owners: 2301 });
  const { cluster, buckets } = pop;
  await time.increase(86_400);
  let offset = 0;
  for (const n of [1, 100, 1000]) {
    const batch = buckets.slice(offset, offset + n);
    offset += n;
    rows.push({
      name: "bucketSettlePayment (owners distinct, paid)",
      gas: await gasOf(ddc.bucketSettlePayment(cluster, batch)),
      n,
    });
  }
  await time.increase(90 * 86_400);
  const worst = buckets.slice(offset, offset + 1200);
  offset += worst.length;
  const worstGas = await gasOf(ddc.bucketSettlePayment(cluster, worst, { gasLimit: GAS_CAP }));
  rows.push({ name: "bucketSettlePayment (owners distinct, all into arrears)", gas: worstGas, n: worst.length });
  const arrearsCheck = await ddc.getLedger(pop.owners[offset - 1], cluster);
  if (arrearsCheck.debt === 0n) throw new Error("bench: the worst-path batch did not put ledgers into arrears");
  // Repeat settlement of ledgers already in arrears (debt grows, no first-time arrears).
  await time.increase(86_400);
  rows.push({
    name: "bucketSettlePayment (owners distinct, already in arrears)",
    gas: await gasOf(ddc.bucketSettlePayment(cluster, worst.slice(0, 1000), { gasLimit: GAS_CAP })),
    n: 1000,
  });

  // Node replacement: the same cost in a cluster of one bucket and in the settlement cluster
  // (2,301 buckets): both have two nodes of one vNode, and the second one is replaced.
  const oneBucket = await buildPopulation(f, { owners: 1 });
  for (const c of [oneBucket.cluster, cluster]) {
    rows.push({
      name: "clusterReplaceNode (a new node takes one vNode; n = buckets in the cluster)",
      gas: await replaceGas(f, c, (await ddc.clusterNodes(c))[1], 1_000_000n),
      n: c === cluster ? buckets.length : 1,
    });
  }

  // Usage reports: every bucket's billed units change (its ledger is settled first).
  const usage = await buildPopulation(f, { owners: 300, capEach: 5n });
  await time.increase(2 * 3600);
  const report = (batch: bigint[], units: bigint) =>
    gasOf(
      ddc.connect(f.manager).clusterReportUsage(
        usage.cluster,
        0,
        batch,
        batch.map(() => units),
        ethers.ZeroHash,
      ),
    );
  for (const n of [1, 100]) {
    const batch = usage.buckets.slice(n === 1 ? 0 : 1, n === 1 ? 1 : 1 + n);
    rows.push({ name: "clusterReportUsage (billed units change)", gas: await report(batch, 3n), n });
  }
  rows.push({
    name: "clusterReportUsage (billed units unchanged)",
    gas: await report(usage.buckets.slice(101, 201), 1n),
    n: 100,
  });

  // Revenue distribution: the same cost for 1 and 500 nodes (an accumulator, no loop over nodes).
  for (const nodes of [1, 500]) {
    const cluster = await revenueCluster(f, nodes);
    await time.increase(2 * 3600);
    await ddc.connect(f.manager).clusterDistributeRevenues(cluster, 0, [], ethers.ZeroHash); // first: fresh slots
    await refill(f, cluster);
    rows.push({
      name: "clusterDistributeRevenues (repeat, every node eligible)",
      gas: await gasOf(ddc.connect(f.manager).clusterDistributeRevenues(cluster, 1, [], ethers.ZeroHash)),
      n: nodes,
    });
    if (nodes === 500) {
      // Each ineligible node, once it has synced before (its first sync creates its checkpoint).
      let era = 2;
      const base = (await ddc.nodeCount()) - 500n;
      for (const k of [1, 10]) {
        const ineligible = Array.from({ length: k }, (_, i) => base + BigInt(i + 1));
        await refill(f, cluster);
        await ddc.connect(f.manager).clusterDistributeRevenues(cluster, era++, ineligible, ethers.ZeroHash);
        await refill(f, cluster);
        rows.push({
          name: "clusterDistributeRevenues (repeat, ineligible)",
          gas: await gasOf(
            ddc.connect(f.manager).clusterDistributeRevenues(cluster, era++, ineligible, ethers.ZeroHash),
          ),
          n: k,
        });
      }
      // A provider claims one node twice (the recipient already holds the token).
      const node = (await ddc.nodeCount()) - 499n;
      const provider = await ethers.getSigner((await ddc.getNode(node)).provider);
      await ddc.connect(provider).claim([node], f.owner1.address);
      await refill(f, cluster);
      await ddc.connect(f.manager).clusterDistributeRevenues(cluster, era++, [], ethers.ZeroHash);
      rows.push({
        name: "claim (repeat, one node)",
        gas: await gasOf(ddc.connect(provider).claim([node], f.owner1.address)),
        n: 1,
      });
    }
  }

  // Node replacement: O(vNodes of the node), with one bucket allocated.
  for (const vNodes of [1, 8, 64]) {
    await ddc.connect(f.manager).clusterCreate(f.manager.address, { ...CLUSTER_PARAMS, replicationFactor: 1 }, GIB);
    const small = await ddc.clusterCount();
    const node = await freshNode(f, 1_000_000n);
    const other = await freshNode(f, 1_000_000n);
    const tokens = (k: number) => Array.from({ length: vNodes }, (_, v) => BigInt(k * vNodes + v + 1) << 40n);
    await ddc.connect(f.manager).clusterAddNode(small, node, tokens(0));
    await ddc.connect(f.manager).clusterAddNode(small, other, tokens(1));
    await ddc.connect(f.manager).clusterReserveResource(small, 10n);
    await ddc.connect(owner2).accountDeposit(small, 100n * USD);
    await ddc.connect(owner2).bucketCreate(small, "");
    await ddc.connect(owner2).bucketAllocIntoCluster(await ddc.bucketCount(), 1n);
    rows.push({
      name: "clusterReplaceNode (a new node takes every vNode)",
      gas: await replaceGas(f, small, node, 1_000_000n),
      n: vNodes,
    });
  }

  // Single-transaction figures on the example-sized cluster.
  const c1 = cluster;
  rows.push({
    name: "bucketCreate",
    gas: await gasOf(ddc.connect(owner1).bucketCreate(c1, '{"engine":"ddc-storage"}')),
    n: 1,
  });
  rows.push({
    name: "bucketCreate (repeat)",
    gas: await gasOf(ddc.connect(owner1).bucketCreate(c1, '{"engine":"ddc-storage"}')),
    n: 1,
  });
  rows.push({
    name: "accountDeposit (new ledger)",
    gas: await gasOf(ddc.connect(owner2).accountDeposit(c1, 100n * USD)),
    n: 1,
  });
  rows.push({
    name: "accountDeposit (repeat)",
    gas: await gasOf(ddc.connect(owner2).accountDeposit(c1, 100n * USD)),
    n: 1,
  });
  const bucket = await ddc.bucketCount();
  await ddc.connect(owner1).accountDeposit(c1, 100n * USD);
  rows.push({
    name: "bucketAllocIntoCluster",
    gas: await gasOf(ddc.connect(owner1).bucketAllocIntoCluster(bucket, 1n)),
    n: 1,
  });
  rows.push({ name: "accountUnlock", gas: await gasOf(ddc.connect(owner1).accountUnlock(c1, 10n * USD)), n: 1 });
  await time.increase(8 * 86_400);
  rows.push({
    name: "accountWithdraw",
    gas: await gasOf(ddc.connect(owner1).accountWithdraw(c1, 10n * USD, owner1.address)),
    n: 1,
  });
  rows.push({ name: "bucketClose", gas: await gasOf(ddc.connect(owner1).bucketClose(bucket)), n: 1 });

  const get = (name: string, n: number): number => {
    const row = rows.find((r) => r.name === name && r.n === n);
    if (!row) throw new Error(`missing row ${name} n=${n}`);
    return row.gas;
  };
  const marginal =
    (get("bucketSettlePayment (owners distinct, paid)", 1000) -
      get("bucketSettlePayment (owners distinct, paid)", 100)) /
    900;
  const distribute1 = get("clusterDistributeRevenues (repeat, every node eligible)", 1);
  const distribute500 = get("clusterDistributeRevenues (repeat, every node eligible)", 500);
  const perIneligible =
    (get("clusterDistributeRevenues (repeat, ineligible)", 10) -
      get("clusterDistributeRevenues (repeat, ineligible)", 1)) /
    9;
  const claimGas = get("claim (repeat, one node)", 1);
  const replace1 = get("clusterReplaceNode (a new node takes every vNode)", 1);
  const replaceByBuckets = "clusterReplaceNode (a new node takes one vNode; n = buckets in the cluster)";
  const replaceBucketsDelta = get(replaceByBuckets, 2301) - get(replaceByBuckets, 1);
  const perVNode = (get("clusterReplaceNode (a new node takes every vNode)", 64) - replace1) / 63;
  const checks = [
    { target: "clusterDistributeRevenues (repeat, 1 node) ≤ 80,000", value: distribute1, ok: distribute1 <= 80_000 },
    {
      target: "clusterDistributeRevenues (repeat, 500 nodes) ≤ 80,000",
      value: distribute500,
      ok: distribute500 <= 80_000,
    },
    {
      target: "clusterDistributeRevenues: 500 nodes − 1 node < 2,000",
      value: distribute500 - distribute1,
      ok: Math.abs(distribute500 - distribute1) < 2_000,
    },
    {
      target: "clusterDistributeRevenues: each ineligible node ≤ 15,000",
      value: perIneligible,
      ok: perIneligible <= 15_000,
    },
    { target: "claim (repeat, one node) ≤ 60,000", value: claimGas, ok: claimGas <= 60_000 },
    {
      target: "clusterReplaceNode: 2,301 buckets − 1 bucket < 2,000 (independent of buckets)",
      value: replaceBucketsDelta,
      ok: Math.abs(replaceBucketsDelta) < 2_000,
    },
    { target: "bucketSettlePayment marginal per bucket (paid) ≤ 12,500", value: marginal, ok: marginal <= 12_500 },
    { target: "bucketSettlePayment of 1,200, all into arrears, < 16,777,216", value: worstGas, ok: worstGas < GAS_CAP },
    {
      target: "bucketCreate ≤ 120,000",
      value: get("bucketCreate (repeat)", 1),
      ok: get("bucketCreate (repeat)", 1) <= 120_000,
    },
    {
      target: "accountDeposit into an existing ledger ≤ 70,000",
      value: get("accountDeposit (repeat)", 1),
      ok: get("accountDeposit (repeat)", 1) <= 70_000,
    },
  ];
  const usageMarginal =
    (get("clusterReportUsage (billed units change)", 100) - get("clusterReportUsage (billed units change)", 1)) / 99;
  const worstMarginal = (worstGas - get("bucketSettlePayment (owners distinct, paid)", 1)) / 1199;

  const dir = join(__dirname, "..", "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gas.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# Gas",
    "",
    "Measured by `npm run bench:gas` on the in-process Hardhat network (hardfork osaka, optimizer 200 runs).",
    "",
    "| function | n | gas | gas per item |",
    "|---|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.n} | ${r.gas.toLocaleString("en-US")} | ${r.n > 1 && !r.name.includes("n = buckets") ? Math.round(r.gas / r.n).toLocaleString("en-US") : ""} |`,
    ),
    "",
    `Marginal settlement cost per bucket, paid path (1,000 − 100 buckets): ${marginal.toFixed(0)} gas.`,
    `Marginal settlement cost per bucket, every ledger into arrears (1,200 − 1): ${worstMarginal.toFixed(0)} gas.`,
    `Marginal usage-report cost per bucket whose billed units change (100 − 1): ${usageMarginal.toFixed(0)} gas` +
      ` (at most 300 per batch: ${Math.round(300 * usageMarginal).toLocaleString("en-US")} gas).`,
    `Marginal replacement cost per vNode handed over (64 − 1 vNodes): ${perVNode.toFixed(0)} gas` +
      ` (a node's maximum, 64 vNodes: ${get("clusterReplaceNode (a new node takes every vNode)", 64).toLocaleString("en-US")} gas).`,
    "",
    "| target | measured | met |",
    "|---|---:|:---:|",
    ...checks.map(
      (c) => `| ${c.target} | ${Math.round(c.value).toLocaleString("en-US")} | ${c.ok ? "yes" : "**no**"} |`,
    ),
    "",
  ].join("\n");
  writeFileSync(join(dir, "gas.md"), md);
  console.log(md);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
