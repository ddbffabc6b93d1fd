import hre from "hardhat";
import { HDNodeWallet, Wallet, getAddress } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployDemoWorld } from "../deploy/demo";
import { loadParameters } from "../deploy/parameters";
import { DeploymentBook, type DeploymentRecord } from "../deploy/record";
import { contractNetworks } from "../deploy/safe";
import { deploySystem, type SystemDeployment } from "../deploy/system";
import { operationArgs, proposeArgs, vote, type Proposal } from "../governance/dao";
import {
  createSafeTransaction,
  executeSafeTransaction,
  safeFor,
  signSafeTransaction,
  type SafeConnection,
} from "../governance/safe";
import type { ReportBody } from "../manager-bot/src/report";

/**
 * The world of `npm start` (scripts/botDemo.ts): the demo world deployed in this process, what the
 * story adds to it, the chain's clock, and the scripted scenario the validators sign until storage
 * nodes exist to be measured.
 */

/** Hardhat's development accounts: the demo world's parties are accounts of this mnemonic. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
export const devKey = (i: number) =>
  new Wallet(HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey);

/** The demo world's accounts (deploy/demo.ts). */
export const ACCOUNT = {
  safeOwners: [1, 2, 3],
  voters: [4, 5, 6],
  providers: [7, 8],
  owners: [9, 10],
  validators: [11, 12],
  bot: 13,
} as const;

export const USD = 1_000_000n;
export const GIB = 1n << 30n;
export const MIB = 1n << 20n;
export const DAY = 86_400;

/**
 * The DAO's clock for the demo, set by the set-up proposal (the local deployment has a 1-hour
 * voting delay, a 3-day voting period and a 1-day Timelock delay): a proposal then passes within
 * four one-hour eras. The odd minutes keep every deadline away from the bot's runs, which come at
 * each era's end and in its middle, so the story is the same at every run.
 */
export const DEMO_GOVERNANCE = { votingPeriod: 75 * 60, timelockDelay: 45 * 60 };

/** The growing bucket's cap (units): it may be billed above its 10-unit reservation up to this. */
export const GROWING_CAP = 40n;

/**
 * The scripted scenario the validators sign. A healthy node scores 9,860–9,960 (the clusters'
 * threshold is 9,000); a degraded node is slow for an era, then fails its retrievability proof
 * (which scores 0) until it is replaced. Buckets: account 9's bucket in the DAO cluster grows by
 * 3 GiB an era, past its 10-unit reservation; the others stay under theirs. The second validator
 * measures a little worse and a little more (the bot takes the lower median).
 */
export const SCENARIO = {
  degraded: [
    { node: 1, slowFrom: 3, failingFrom: 4 },
    { node: 4, slowFrom: 4, failingFrom: 5 },
  ],
  growingBytes: (step: number) => BigInt(4 + 3 * step) * GIB + 300n * MIB,
  steadyBytes: (bucket: number) => BigInt(2 + ((bucket * 3) % 7)) * GIB + 512n * MIB,
};

export type NodeResult = ReportBody["nodes"][number];

/** What validator `v` (0 or 1) measures of `node` in step `step` (1-based). */
export function scriptedNode(step: number, node: number, v: number): NodeResult {
  const d = SCENARIO.degraded.find((x) => x.node === node);
  if (d !== undefined && step >= d.failingFrom) {
    return { node, availabilityBps: 4_100 - 100 * v, latencyMs: 2_400 + 50 * v, retrievable: false, score: 3_000 };
  }
  if (d !== undefined && step >= d.slowFrom) {
    return { node, availabilityBps: 8_200 - 50 * v, latencyMs: 950 + 40 * v, retrievable: true, score: 7_400 - 30 * v };
  }
  return {
    node,
    availabilityBps: 9_995 - node - v,
    latencyMs: 30 + 4 * node + 3 * v,
    retrievable: true,
    score: 9_960 - 10 * node - 5 * v,
  };
}

/** What validator `v` measures of `bucket` in step `step`. */
export function scriptedBytes(step: number, bucket: number, growing: number, v: number): bigint {
  return (bucket === growing ? SCENARIO.growingBytes(step) : SCENARIO.steadyBytes(bucket)) + BigInt(v) * MIB;
}

/** Token units as tUSD with `digits` decimals (rounded down). */
export function usd(amount: bigint, digits = 2): string {
  const sign = amount < 0n ? "-" : "";
  const a = amount < 0n ? -amount : amount;
  const whole = (a / USD).toLocaleString("en-US");
  if (digits === 0) return `${sign}${whole}`;
  const frac = ((a % USD) * 10n ** BigInt(digits)) / USD;
  return `${sign}${whole}.${frac.toString().padStart(digits, "0")}`;
}

export const short = (hex: string) => `${hex.slice(0, 6)}…${hex.slice(-4)}`;
export const gib = (bytes: bigint) => `${(Number((bytes * 10n) / GIB) / 10).toFixed(1)} GiB`;
export const list = (xs: (number | bigint)[]) => (xs.length === 0 ? "none" : xs.join(", "));
export const votes = (v: bigint) => (v / 10n ** 18n).toLocaleString("en-US");

export interface World {
  system: SystemDeployment;
  record: DeploymentRecord;
  chainId: number;
  core: string;
  dao: number;
  safe: number;
  opsSafe: string;
  safeConnection: SafeConnection;
  safeOwners: HardhatEthersSigner[];
  voters: HardhatEthersSigner[];
  providers: HardhatEthersSigner[];
  owners: HardhatEthersSigner[];
}

/** The chain's clock (the latest block's timestamp). */
export async function now(): Promise<bigint> {
  const block = await hre.ethers.provider.getBlock("latest");
  if (block === null) throw new Error("no latest block");
  return BigInt(block.timestamp);
}

/** Mines a block at `timestamp` (or the next second, if the chain is already there). */
export async function travelTo(timestamp: bigint): Promise<void> {
  const latest = await now();
  await hre.network.provider.send("evm_setNextBlockTimestamp", [Number(timestamp > latest ? timestamp : latest + 1n)]);
  await hre.network.provider.send("evm_mine", []);
}

export async function travel(seconds: bigint): Promise<void> {
  await travelTo((await now()) + seconds);
}

/** The system and the demo world, as `npm run deploy -- --network hardhat --demo` builds them. */
export async function deploy(log: (line: string) => void): Promise<World> {
  const signers = await hre.ethers.getSigners();
  const params = loadParameters("hardhat");
  const chainId = Number((await hre.ethers.provider.getNetwork()).chainId);
  const book = new DeploymentBook(hre.ethers.provider, undefined, chainId, undefined);
  const block = await hre.ethers.provider.getBlockNumber();
  log("Deploying the system (deploy/parameters/hardhat.json) and the demo world …");
  const system = await deploySystem(signers[0], params, book, { local: true });
  book.record.block = block;
  book.record.parameters = params;
  const world = await deployDemoWorld(hre, system, (line) => log(`  ${line.trim()}`));
  return {
    system,
    record: book.record,
    chainId,
    core: await system.ddc.getAddress(),
    dao: Number(world.daoCluster),
    safe: Number(world.safeCluster),
    opsSafe: world.opsSafe,
    safeConnection: {
      provider: hre.network.provider,
      safeAddress: world.opsSafe,
      contractNetworks: contractNetworks(chainId, system.safe),
    },
    safeOwners: ACCOUNT.safeOwners.map((i) => signers[i]),
    voters: ACCOUNT.voters.map((i) => signers[i]),
    providers: ACCOUNT.providers.map((i) => signers[i]),
    owners: ACCOUNT.owners.map((i) => signers[i]),
  };
}

/** The open buckets of a cluster (of one owner if given), in id order. */
export async function bucketsOf(w: World, cluster: number, owner?: string): Promise<number[]> {
  const out: number[] = [];
  const count = Number(await w.system.ddc.bucketCount());
  for (let b = 1; b <= count; b++) {
    const view = await w.system.ddc.getBucket(b);
    if (Number(view.cluster) !== cluster || view.closed) continue;
    if (owner !== undefined && getAddress(view.owner) !== getAddress(owner)) continue;
    out.push(b);
  }
  return out;
}

/** The ring's nodes in token order. */
export async function ring(w: World, cluster: number): Promise<number[]> {
  const [tokens, nodes] = await w.system.ddc.clusterRing(cluster);
  return tokens
    .map((t, i) => ({ t, n: Number(nodes[i]) }))
    .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0))
    .map((x) => x.n);
}

/**
 * What the story needs beyond the demo world, each done the way its parties would do it:
 * - a third node in each cluster (node 5 by a DAO proposal, node 6 by a Safe transaction): a
 *   cluster of replication 2 may exclude at most `nodes − 2` nodes from a distribution;
 * - the DAO's clock for the demo ({@link DEMO_GOVERNANCE}), in the same proposal as node 5;
 * - account 9's bucket in the DAO cluster capped at 40 units (it will grow past its reservation);
 * - the owners' notice of the price increase (14 days), so that the new nodes are charged and earn.
 */
export async function setUp(w: World, log: (line: string) => void): Promise<void> {
  const { ddc, governor, timelock } = w.system;
  log("");
  log("Set-up for the story");
  const spares: number[] = [];
  for (const provider of w.providers) {
    const params = { engine: "ddc-storage", version: "1.0.0", urls: [], metadata: "demo node" };
    await (await ddc.connect(provider).nodeCreate(Wallet.createRandom().address, 1000n, USD, params)).wait();
    spares.push(Number(await ddc.nodeCount()));
  }
  const [node5, node6] = spares;
  log(`  providers 7 and 8 register nodes ${node5} and ${node6} (1,000 units, rent 1 tUSD per unit-month)`);

  const proposal: Proposal = {
    actions: [
      {
        target: w.core,
        data: ddc.interface.encodeFunctionData("clusterAddNode", [w.dao, node5, [BigInt(node5) << 40n]]),
      },
      {
        target: await governor.getAddress(),
        data: governor.interface.encodeFunctionData("setVotingPeriod", [DEMO_GOVERNANCE.votingPeriod]),
      },
      {
        target: await timelock.getAddress(),
        data: timelock.interface.encodeFunctionData("updateDelay", [DEMO_GOVERNANCE.timelockDelay]),
      },
    ],
    description:
      `# Node ${node5} joins cluster ${w.dao}; a faster clock for the demo\n\n` +
      `Voting period ${DEMO_GOVERNANCE.votingPeriod / 60} min, Timelock delay ${DEMO_GOVERNANCE.timelockDelay / 60} min.`,
  };
  await (await governor.connect(w.voters[0]).propose(...proposeArgs(proposal))).wait();
  const id = await governor.hashProposal(...operationArgs(proposal));
  await travel((await governor.votingDelay()) + 1n);
  for (const voter of w.voters) await vote(governor.connect(voter), id, "for");
  await travel(await governor.votingPeriod());
  await (await governor.queue(...operationArgs(proposal))).wait();
  await travel(await timelock.getMinDelay());
  await (await governor.execute(...operationArgs(proposal))).wait();
  log(
    `  the DAO adds node ${node5} to cluster ${w.dao} and sets its clock for the demo: voting delay ` +
      `${(await governor.votingDelay()) / 60n} min, voting period ${(await governor.votingPeriod()) / 60n} min, ` +
      `Timelock delay ${(await timelock.getMinDelay()) / 60n} min (proposal ${short(id.toString())}, voters 4–6 for)`,
  );

  // The bot signs the Safe transactions it proposes as one owner: it must be one.
  const [g1, g2] = w.safeOwners;
  const kit = await safeFor(w.safeConnection, g1.address);
  const bot = devKey(ACCOUNT.bot).address;
  if (!(await kit.isOwner(bot))) {
    throw new Error(`the demo world's operations Safe ${w.opsSafe} must count the bot's key ${bot} among its owners`);
  }
  const addNode6 = ddc.interface.encodeFunctionData("clusterAddNode", [w.safe, node6, [(BigInt(node6) << 40n) + 1n]]);
  let tx = await createSafeTransaction(kit, [{ to: w.core, data: addNode6 }]);
  for (const owner of [g1, g2]) tx = await signSafeTransaction(w.safeConnection, owner.address, tx);
  await executeSafeTransaction(w.safeConnection, g1.address, tx);
  log(
    `  the operations Safe adds node ${node6} to cluster ${w.safe} (signed by accounts 1 and 2; ` +
      `${(await kit.getOwners()).length} owners, the bot's key among them, threshold ${await kit.getThreshold()})`,
  );

  const [growing] = await bucketsOf(w, w.dao, w.owners[0].address);
  await (await ddc.connect(w.owners[0]).bucketSetCap(growing, GROWING_CAP)).wait();
  log(`  account 9 caps its bucket ${growing} at ${GROWING_CAP} units: measured use is billed up to that`);

  let inForce = 0n;
  for (const c of [w.dao, w.safe]) {
    const at = (await ddc.getCluster(c)).pendingPriceAt;
    if (at > inForce) inForce = at;
  }
  await travelTo(inForce + 1n);
  const prices = [];
  for (const c of [w.dao, w.safe]) prices.push(`${usd((await ddc.getCluster(c)).price, 0)} in cluster ${c}`);
  log(
    `  14 days pass (the owners' notice of the price increase): the new nodes are charged and earn; ` +
      `price per unit-month ${prices.join(", ")} tUSD`,
  );
}
