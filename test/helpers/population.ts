import { ethers, network } from "hardhat";
import type { Signer } from "ethers";
import { USD, RENT, NODE_PARAMS, CLUSTER_PARAMS, GIB, type CoreFixture } from "./fixtures";

/** Funds an address with ETH for gas and returns a signer for it (Hardhat network only). */
export async function impersonate(address: string): Promise<Signer> {
  await network.provider.send("hardhat_impersonateAccount", [address]);
  await network.provider.send("hardhat_setBalance", [address, "0x56BC75E2D63100000"]);
  return ethers.getSigner(address);
}

export interface Population {
  cluster: bigint;
  /** One bucket per owner, each owner distinct. */
  buckets: bigint[];
  owners: string[];
}

/**
 * A cluster of `nodes` nodes (one vNode each) with `owners` owners, each with one bucket of
 * `unitsEach` units (cap `capEach`, default the units) and a deposit of `depositEach` (default: just
 * the runway plus one month).
 * Owner transactions are sent with automine off and mined in blocks, to build large populations fast.
 */
export async function buildPopulation(
  f: CoreFixture,
  options: { owners: number; unitsEach?: bigint; nodes?: number; depositEach?: bigint; capEach?: bigint },
): Promise<Population> {
  const { ddc, token, manager, deployer, coreAddress } = f;
  const unitsEach = options.unitsEach ?? 1n;
  const nodeTotal = options.nodes ?? 2;
  const capacity = BigInt(options.owners) * unitsEach + 10n;
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  const cluster = await ddc.clusterCount();
  const providers = f.others.slice(0, nodeTotal);
  for (let i = 0; i < nodeTotal; i++) {
    const provider = providers[i];
    const key = ethers.Wallet.createRandom().address;
    await ddc.connect(provider).nodeCreate(key, capacity, RENT, NODE_PARAMS);
    const node = await ddc.nodeCount();
    await ddc.connect(provider).nodeTrustManager(manager.address);
    await ddc.connect(manager).clusterAddNode(cluster, node, [BigInt(i) << 40n]);
  }
  await ddc.connect(manager).clusterReserveResource(cluster, capacity);

  const price = RENT * BigInt(nodeTotal);
  const grace = BigInt((await ddc.globalParams()).gracePeriod);
  const runway = (unitsEach * price * grace + 30n * 86400n - 1n) / (30n * 86400n);
  const depositEach = options.depositEach ?? runway + unitsEach * price;
  await token.mint(deployer.address, depositEach * BigInt(options.owners) + USD);
  await token.connect(deployer).approve(coreAddress, ethers.MaxUint256);

  const owners: string[] = [];
  const signers: Signer[] = [];
  for (let i = 0; i < options.owners; i++) {
    const address = ethers.Wallet.createRandom().address;
    owners.push(address);
    signers.push(await impersonate(address));
  }
  const bucketOf = new Map<string, bigint>();
  await network.provider.send("evm_setAutomine", [false]);
  try {
    const chunk = 200;
    for (let start = 0; start < options.owners; start += chunk) {
      const end = Math.min(options.owners, start + chunk);
      const sent = [];
      const depositorNonce = await deployer.getNonce();
      for (let i = start; i < end; i++) {
        sent.push(
          ddc
            .connect(deployer)
            .depositFor(owners[i], cluster, depositEach, { nonce: depositorNonce + i - start, gasLimit: 200_000 }),
        );
        sent.push(ddc.connect(signers[i]).bucketCreate(cluster, "", { nonce: 0, gasLimit: 200_000 }));
      }
      await Promise.all(sent);
      await network.provider.send("evm_mine", []);
      const block = await ethers.provider.getBlockNumber();
      for (const log of await ddc.queryFilter(ddc.filters.BucketCreated(), block, block)) {
        bucketOf.set(log.args.owner, log.args.bucket);
      }
      const allocs = [];
      for (let i = start; i < end; i++) {
        const bucket = bucketOf.get(owners[i]);
        if (bucket === undefined) throw new Error(`population: no bucket for owner ${owners[i]}`);
        allocs.push(ddc.connect(signers[i]).bucketAllocIntoCluster(bucket, unitsEach, { nonce: 1, gasLimit: 400_000 }));
        if (options.capEach !== undefined) {
          allocs.push(ddc.connect(signers[i]).bucketSetCap(bucket, options.capEach, { nonce: 2, gasLimit: 400_000 }));
        }
      }
      await Promise.all(allocs);
      await network.provider.send("evm_mine", []);
    }
  } finally {
    await network.provider.send("evm_setAutomine", [true]);
  }
  const buckets = owners.map((owner) => bucketOf.get(owner) ?? 0n);
  const last = await ddc.getBucket(buckets[buckets.length - 1]);
  if (last.billed !== unitsEach) throw new Error("population: the last allocation did not land");
  return { cluster, buckets, owners };
}

/**
 * Registers `count` nodes of fresh providers (capacity `capacity`, rent 1 tUSD), all trusting the
 * manager, and adds them to `cluster` with `vNodes` vNodes each (distinct tokens). Transactions are
 * mined in blocks of 48 (a block holds 30M gas). Returns the first node id.
 */
export async function addManyNodes(
  f: CoreFixture,
  cluster: bigint,
  count: number,
  options: { vNodes?: number; capacity?: bigint } = {},
): Promise<bigint> {
  const { ddc, manager } = f;
  const vNodes = options.vNodes ?? 1;
  const first = (await ddc.nodeCount()) + 1n;
  const providers = await Promise.all(
    Array.from({ length: count }, () => impersonate(ethers.Wallet.createRandom().address)),
  );
  const chunk = 48;
  await network.provider.send("evm_setAutomine", [false]);
  try {
    for (let start = 0; start < count; start += chunk) {
      const group = providers.slice(start, start + chunk);
      await Promise.all(
        group.map((p) =>
          ddc
            .connect(p)
            .nodeCreate(ethers.Wallet.createRandom().address, options.capacity ?? 1_000_000n, RENT, NODE_PARAMS, {
              nonce: 0,
              gasLimit: 500_000,
            }),
        ),
      );
      await Promise.all(
        group.map((p) => ddc.connect(p).nodeTrustManager(manager.address, { nonce: 1, gasLimit: 100_000 })),
      );
      await network.provider.send("evm_mine", []);
    }
    for (let start = 0; start < count; start += chunk) {
      const nonce = await manager.getNonce();
      const ids = Array.from({ length: Math.min(chunk, count - start) }, (_, k) => start + k);
      await Promise.all(
        ids.map((i, k) => {
          const tokens = Array.from({ length: vNodes }, (_, v) => BigInt(i * vNodes + v + 1) << 40n);
          return ddc
            .connect(manager)
            .clusterAddNode(cluster, first + BigInt(i), tokens, { nonce: nonce + k, gasLimit: 800_000 });
        }),
      );
      await network.provider.send("evm_mine", []);
    }
  } finally {
    await network.provider.send("evm_setAutomine", [true]);
  }
  return first;
}
