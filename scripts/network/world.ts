import { HDNodeWallet, JsonRpcProvider, Wallet, getAddress, parseEther, type Signer } from "ethers";
import { DEFAULT_CLUSTER_PARAMS } from "../../deploy/core";
import { loadParameters, type NetworkParameters } from "../../deploy/parameters";
import { DeploymentBook, type DeploymentRecord } from "../../deploy/record";
import { contractNetworks, createSafe } from "../../deploy/safe";
import { deploySystem, type SystemDeployment } from "../../deploy/system";
import { operationArgs, proposeArgs, stateName, vote, type Proposal } from "../../governance/dao";
import {
  createSafeTransaction,
  executeSafeTransaction,
  safeFor,
  signSafeTransaction,
  type SafeConnection,
} from "../../governance/safe";
import { TestStablecoin__factory } from "../../typechain-types";

/**
 * The network's world on a local anvil chain whose clock is the wall clock: the system with
 * governance short enough to pass a proposal in well under a minute, two providers, two clusters
 * (one the DAO manages through its Timelock, one an operations Safe manages), the validators, the
 * manager bot and the app's owner. Nothing here moves the chain's clock: every wait is real time.
 */

/** anvil's development accounts (the same mnemonic as Hardhat's). */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** The key of development account `i`. */
export const devKey = (i: number): Wallet =>
  new Wallet(HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey);

/** Who is who among the 20 development accounts. */
export const ACCOUNT = {
  deployer: 0,
  /** The operations Safe's owner besides the bot (2 of 2). */
  safeOwner: 1,
  voters: [2, 3, 4],
  providers: [5, 6],
  app: 7,
  validators: [8, 9, 10],
  bot: 11,
} as const;

export const USD = 1_000_000n;

/**
 * How many times faster than the wall clock the chain's time runs: anvil mines a block every
 * second, each CHAIN_SPEED seconds after the last (`anvil_setBlockTimestampInterval`). The core's
 * shortest era, 10 minutes, then passes in 30 s. The storage nodes and the validators follow the
 * chain's time (lib/chainClock.ts), as they do on any chain; the bot and the Governor read it from
 * the chain anyway. Request expiries and sessions stay on the wall clock, as they would live.
 */
export const CHAIN_SPEED = 20;

/**
 * The DAO's clock, in the chain's seconds: a proposal passes about 32 s of wall-clock time after
 * it is made (voting delay 2 s, voting period 20 s, Timelock delay 10 s, at CHAIN_SPEED).
 */
export const GOVERNANCE = { votingDelay: 40, votingPeriod: 400, timelockDelay: 200 };

/** The era: the core's shortest (10 minutes of the chain's time, 30 s of the wall clock). */
export const WANTED_ERA_S = 600;

/** Each provider's nodes, in registration order: node ids 1–4 (provider 1) and 5–8 (provider 2). */
export const NODES_PER_PROVIDER = 4;

/**
 * The clusters' members and spares, by node id. The bot replaces a failing member by a node that
 * is not a member, whose provider trusts the cluster's manager and which has free capacity for the
 * member's vNodes; among those, the best mean score first (DDCLens.replacementCandidates and the
 * bot's policy), so a member of the other cluster, with its good scores, would come before a
 * spare that has none. Hence: members offer exactly the capacity their one vNode reserves
 * ({@link MEMBER_CAPACITY}: none left for another cluster), spares offer more; provider 1 trusts
 * the Timelock only and provider 2 the Safe only (both trust the deployer, who builds the
 * clusters), so node 1 (provider 1), once replaced in the DAO cluster, is no candidate for the
 * Safe's.
 */
export const LAYOUT = {
  dao: { members: [1, 5, 2], spare: 3, failing: 1 },
  safe: { members: [4, 6, 7], spare: 8, failing: 6 },
} as const;

/**
 * Replication 2 in a cluster of 3: a distribution may exclude `members − replication` nodes, so a
 * failing member can be left out of revenue (with 3 of 3 none could).
 */
export const REPLICATION = 2;
/** Units each vNode reserves of its node. */
export const RESERVED_PER_VNODE = 100n;
/** A member's capacity: its one vNode's reservation, no more. */
export const MEMBER_CAPACITY = RESERVED_PER_VNODE;
/** A spare's capacity. */
export const SPARE_CAPACITY = 1000n;

/** The capacity node `id` offers (see {@link LAYOUT}). */
export function capacityOf(id: number): bigint {
  return id === LAYOUT.dao.spare || id === LAYOUT.safe.spare ? SPARE_CAPACITY : MEMBER_CAPACITY;
}
export const NODE_RENT = 1n * USD;

export interface Party {
  wallet: Wallet;
  account: number;
}

export interface World {
  provider: JsonRpcProvider;
  rpcUrl: string;
  system: SystemDeployment;
  record: DeploymentRecord;
  chainId: number;
  core: string;
  dao: number;
  safe: number;
  eraSeconds: number;
  opsSafe: string;
  safeConnection: SafeConnection;
  deployer: Wallet;
  safeOwner: Wallet;
  voters: Wallet[];
  providers: Wallet[];
  app: Wallet;
  validators: Wallet[];
  bot: Wallet;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The chain's clock (the latest block's timestamp). */
export async function chainNow(provider: JsonRpcProvider): Promise<bigint> {
  const block = await provider.getBlock("latest");
  if (block === null) throw new Error("no latest block");
  return BigInt(block.timestamp);
}

/** Waits until the chain's clock reaches `timestamp` (blocks come every second). */
export async function waitForChainTime(provider: JsonRpcProvider, timestamp: bigint, what: string): Promise<void> {
  const deadline = Date.now() + (Number(timestamp - (await chainNow(provider))) + 30) * 1000;
  while ((await chainNow(provider)) < timestamp) {
    if (Date.now() > deadline) throw new Error(`the chain's clock did not reach ${timestamp} (${what})`);
    await sleep(500);
  }
}

/** The system's parameters: the local ones with the short governance clock. */
function parameters(): NetworkParameters {
  const p = loadParameters("localhost");
  return {
    ...p,
    governance: {
      ...p.governance,
      votingDelay: GOVERNANCE.votingDelay,
      votingPeriod: GOVERNANCE.votingPeriod,
      timelockDelay: GOVERNANCE.timelockDelay,
    },
  };
}

async function send(what: string, tx: Promise<{ wait(): Promise<unknown> }>): Promise<void> {
  try {
    await (await tx).wait();
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
}

/**
 * The shortest era the core takes (its MIN_ERA_LENGTH): a cluster creation with a shorter one is
 * refused with the bound named in the error.
 */
async function eraSeconds(system: SystemDeployment, deployer: Signer): Promise<number> {
  const params = { ...DEFAULT_CLUSTER_PARAMS, replicationFactor: REPLICATION, eraLength: WANTED_ERA_S };
  try {
    await system.ddc.connect(deployer).clusterCreate.staticCall(await deployer.getAddress(), params, 1n << 30n);
    return WANTED_ERA_S;
  } catch (error) {
    const data = (error as { data?: string }).data;
    const parsed = data === undefined ? null : system.ddc.interface.parseError(data);
    const min = parsed?.args.find((_a, i) => parsed.fragment.inputs[i]?.name === "min");
    if (min === undefined) throw error;
    return Number(min);
  }
}

/** Deploys the system on the chain at `rpcUrl` (the deployer is account 0). */
export async function deploy(rpcUrl: string, log: (line: string) => void): Promise<World> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, pollingInterval: 200 });
  const chainId = Number((await provider.getNetwork()).chainId);
  const at = (i: number) => devKey(i).connect(provider);
  const deployer = at(ACCOUNT.deployer);
  const book = new DeploymentBook(provider, undefined, chainId, undefined);
  const params = parameters();
  book.record.block = await provider.getBlockNumber();
  book.record.parameters = params;
  log("deploying the system: the core, the lens, the governance token, the Timelock, the Governor, Safe 1.5 …");
  const system = await deploySystem(deployer, params, book, { local: true });
  const era = await eraSeconds(system, deployer);
  const bot = at(ACCOUNT.bot);
  const safeOwner = at(ACCOUNT.safeOwner);
  const opsSafe = await createSafe(deployer, system.safe, [bot.address, safeOwner.address], 2, 1n);
  return {
    provider,
    rpcUrl,
    system,
    record: book.record,
    chainId,
    core: await system.ddc.getAddress(),
    dao: 0,
    safe: 0,
    eraSeconds: era,
    opsSafe,
    safeConnection: {
      provider: rpcUrl,
      safeAddress: opsSafe,
      contractNetworks: contractNetworks(chainId, system.safe),
    },
    deployer,
    safeOwner,
    voters: ACCOUNT.voters.map(at),
    providers: ACCOUNT.providers.map(at),
    app: at(ACCOUNT.app),
    validators: ACCOUNT.validators.map(at),
    bot,
  };
}

/** Voting power: 100k, 50k and 30k DDCG to the voters, 2k to the bot (to propose), each delegated. */
export async function delegateVotes(w: World): Promise<void> {
  const { governanceToken } = w.system;
  const shares = [
    [w.voters[0], "100000"],
    [w.voters[1], "50000"],
    [w.voters[2], "30000"],
    [w.bot, "2000"],
  ] as const;
  for (const [who, amount] of shares) {
    await send("a transfer of DDCG", governanceToken.connect(w.deployer).transfer(who.address, parseEther(amount)));
    await send("a delegation", governanceToken.connect(who).delegate(who.address));
  }
}

/** The providers trust the managers their spares serve (see {@link LAYOUT}) and the deployer. */
export async function trustManagers(w: World): Promise<void> {
  const timelock = await w.system.timelock.getAddress();
  const trusted = [
    [w.deployer.address, timelock],
    [w.deployer.address, w.opsSafe],
  ];
  for (const [i, p] of w.providers.entries()) {
    for (const m of trusted[i]) await send("a trust of a manager", w.system.ddc.connect(p).nodeTrustManager(m));
  }
}

/**
 * The deployer creates both clusters (replication 2, eras of `eraSeconds`), adds their members
 * (one vNode each, spread over the ring), reserves capacity and proposes the managers.
 */
export async function createClusters(w: World): Promise<void> {
  const { ddc } = w.system;
  const as = ddc.connect(w.deployer);
  const params = { ...DEFAULT_CLUSTER_PARAMS, replicationFactor: REPLICATION, eraLength: w.eraSeconds };
  const quarter = 1n << 62n;
  for (const [c, members, manager] of [
    [0, LAYOUT.dao.members, await w.system.timelock.getAddress()],
    [1, LAYOUT.safe.members, w.opsSafe],
  ] as const) {
    await send("cluster creation", as.clusterCreate(w.deployer.address, params, 1n << 30n));
    const cluster = Number(await ddc.clusterCount());
    if (c === 0) w.dao = cluster;
    else w.safe = cluster;
    for (const [i, node] of members.entries()) {
      await send(`node ${node} joining`, as.clusterAddNode(cluster, node, [BigInt(i) * quarter + 777n + BigInt(c)]));
    }
    await send("the reservation", as.clusterReserveResource(cluster, RESERVED_PER_VNODE));
    await send("the manager's proposal", as.clusterProposeManager(cluster, manager));
  }
}

/** The calls a new manager makes: accept, name the bot the operator, name the validators. */
function acceptCalls(w: World, cluster: number): { to: string; data: string }[] {
  const i = w.system.ddc.interface;
  return [
    { to: w.core, data: i.encodeFunctionData("clusterAcceptManager", [cluster]) },
    { to: w.core, data: i.encodeFunctionData("clusterSetOperator", [cluster, w.bot.address, true]) },
    ...w.validators.map((v) => ({
      to: w.core,
      data: i.encodeFunctionData("clusterSetValidator", [cluster, v.address, true]),
    })),
  ];
}

/** The Safe's two owners (the bot and account 1) accept the Safe cluster in one transaction. */
export async function safeAccepts(w: World): Promise<string> {
  const kit = await safeFor(w.safeConnection, w.bot.privateKey);
  let tx = await createSafeTransaction(kit, acceptCalls(w, w.safe));
  for (const owner of [w.bot, w.safeOwner]) tx = await signSafeTransaction(w.safeConnection, owner.privateKey, tx);
  return executeSafeTransaction(w.safeConnection, w.bot.privateKey, tx);
}

/**
 * The DAO accepts its cluster by a proposal the voters pass, in real time: proposed, voted once
 * the voting delay is over, queued once the vote closed, executed after the Timelock's delay.
 */
export async function daoAccepts(w: World, log: (line: string) => void): Promise<bigint> {
  const { governor } = w.system;
  const proposal: Proposal = {
    actions: acceptCalls(w, w.dao).map((a) => ({ target: a.to, data: a.data })),
    description: `# Accept cluster ${w.dao}\n\nThe DAO manages it; the manager bot runs routine work; three validators measure it.`,
  };
  // Votes count from the second after their delegation (the snapshot reads the clock minus one).
  await sleep(1500);
  await send("the proposal", governor.connect(w.voters[0]).propose(...proposeArgs(proposal)));
  const id = await governor.hashProposal(...operationArgs(proposal));
  const until = async (state: string, at: bigint) => {
    await waitForChainTime(w.provider, at + 1n, `proposal ${id} ${state}`);
    const deadline = Date.now() + 15_000;
    while (stateName(await governor.state(id)) !== state) {
      if (Date.now() > deadline) throw new Error(`the acceptance proposal did not become ${state}`);
      await sleep(300);
    }
  };
  await until("Active", await governor.proposalSnapshot(id));
  for (const voter of w.voters) await vote(governor.connect(voter), id, "for");
  log(`  the voters vote for proposal ${id.toString().slice(0, 8)}…: accept cluster ${w.dao}`);
  await until("Succeeded", await governor.proposalDeadline(id));
  await send("queueing", governor.connect(w.voters[0]).queue(...operationArgs(proposal)));
  await waitForChainTime(w.provider, await governor.proposalEta(id), "the Timelock's delay");
  await sleep(1000);
  await send("execution", governor.connect(w.voters[0]).execute(...operationArgs(proposal)));
  return id;
}

/** The app's owner: tUSD from the faucet, a deposit and a 10-unit bucket in each cluster. */
export async function appBuckets(w: World): Promise<{ dao: number; safe: number }> {
  const { ddc } = w.system;
  const token = TestStablecoin__factory.connect(w.system.paymentToken, w.deployer);
  await send("the faucet", token.mint(w.app.address, 10_000n * USD));
  await send("the approval", token.connect(w.app).approve(w.core, 2n ** 256n - 1n));
  const out: number[] = [];
  for (const cluster of [w.dao, w.safe]) {
    await send("the deposit", ddc.connect(w.app).accountDeposit(cluster, 1_000n * USD));
    await send("the bucket", ddc.connect(w.app).bucketCreate(cluster, '{"engine":"ddc-storage"}'));
    const bucket = await ddc.bucketCount();
    await send("the allocation", ddc.connect(w.app).bucketAllocIntoCluster(bucket, 10n));
    out.push(Number(bucket));
  }
  return { dao: out[0], safe: out[1] };
}

/** The ring's nodes in token order. */
export async function ring(w: World, cluster: number): Promise<number[]> {
  const [tokens, nodes] = await w.system.ddc.clusterRing(cluster);
  return tokens
    .map((t, i) => ({ t, n: Number(nodes[i]) }))
    .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0))
    .map((x) => x.n);
}

/** Whether `a` and `b` are the same address. */
export const same = (a: string, b: string) => getAddress(a) === getAddress(b);
