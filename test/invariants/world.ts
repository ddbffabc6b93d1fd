/**
 * The world the invariant properties drive: the fixture (four clusters sharing nodes, five owners,
 * twelve buckets, pay-per-use ones among them), the random actions, and a reference model of the
 * chain (test/helpers/model.ts) that predicts each transaction's outcome — success with the exact
 * settlements (paid, debt), or the named custom error — and checks the chain against it after
 * every action.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionReceipt, ContractTransactionResponse, Interface, LogDescription } from "ethers";
import { DAY } from "../../deploy/core";
import { coreFixture, CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD, type CoreFixture } from "../helpers/fixtures";
import {
  LedgerModel,
  PriceModel,
  decodeRecord,
  revertOf,
  runway,
  scaledCharge,
  settlementsOf,
  indexAt as indexFromCheckpoints,
  MONTH,
  type Checkpoint,
  type Settled,
} from "../helpers/model";

/** FC_SEED replays a reported failure; FC_RUNS runs a longer hunt locally; FC_STATS prints coverage. */
export const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
export const RUNS = process.env.FC_RUNS === undefined ? 25 : Number(process.env.FC_RUNS);

/** The shortest price notice, fixed in the core (DDCConstants.MIN_PRICE_NOTICE). */
const MIN_PRICE_NOTICE = 86_400n;

/** A bucket's billed units: min(cap, max(reservation, measured)). */
function billedOf(b: { reserved: bigint; cap: bigint; measured: bigint }): bigint {
  const wanted = b.reserved > b.measured ? b.reserved : b.measured;
  return wanted > b.cap ? b.cap : wanted;
}

// ───────────────────────────────────────────── fixture ─────────────────────────────────────────────

const NODE_RENTS = [RENT, 2n * RENT, (3n * RENT) / 2n, 3n * RENT, RENT / 2n];
const NODE_VNODES = [2, 1, 1, 1, 1];
export const NODE_CAPACITY = 1_000_000n;

/**
 * The ring tokens of node `i` (0-based) with `vNodes` vNodes, generation `g`: distinct between nodes
 * and generations, the same in every cluster (generation 0 is the fixture's).
 */
export function tokensOf(i: number, vNodes: number = NODE_VNODES[i], g = 0): bigint[] {
  return Array.from({ length: vNodes }, (_, j) => (BigInt(i + 1) << 48n) + (BigInt(g) << 16n) + BigInt(j));
}

export interface InvariantFixture extends CoreFixture {
  manager2: HardhatEthersSigner;
  providers: HardhatEthersSigner[];
  /** Every address that may hold a ledger. */
  owners: HardhatEthersSigner[];
  /** Pays `depositFor` on others' behalf. */
  payer: HardhatEthersSigner;
  clusters: bigint[];
}

/**
 * Four clusters:
 * - cluster 1 (manager, notice 10 days) holds nodes 1–4 (node 1 with two vNodes);
 * - cluster 2 (manager2, notice 0: the unlock delay rules) holds nodes 2 and 5;
 * - cluster 3 (manager, notice 2 days) holds nodes 3 and 5, its factor lowered from 2 to 1 before
 *   any bucket could be billed (so its next distribution still excludes by 2); its only billable
 *   bucket is pay-per-use (reservation 0, cap 20): nothing allocated, yet a price increase waits;
 * - cluster 4 (manager2, notice 3 days) holds nodes 4 and 5, its factor raised from 2 to 4 while
 *   no bucket could be billed: under-replicated, it takes no new billing until it is repaired.
 * Five owners, twelve buckets, seven funded ledgers (one in debt, one run out but not settled);
 * the fifth owner has no deposit anywhere. A usage report measured owner 4's buckets in cluster 2
 * above their reservations.
 */
export async function invariantFixture(): Promise<InvariantFixture> {
  return buildInvariantFixture();
}

/** Adds to the fixture once its clusters hold their nodes (before reservations); returns more providers. */
export type FixtureExtension = (f: CoreFixture, manager2: HardhatEthersSigner) => Promise<HardhatEthersSigner[]>;

/** The fixture of {invariantFixture}, with `extend` run before the reservations and allocations. */
export async function buildInvariantFixture(extend?: FixtureExtension): Promise<InvariantFixture> {
  const f = await coreFixture();
  const { ddc, token, coreAddress, manager } = f;
  const manager2 = f.others[3];
  const payer = f.others[6];
  const providers = [f.provider1, f.provider2, f.others[0], f.others[1], f.others[2]];
  for (let i = 0; i < providers.length; i++) {
    await ddc
      .connect(providers[i])
      .nodeCreate(ethers.Wallet.createRandom().address, NODE_CAPACITY, NODE_RENTS[i], NODE_PARAMS);
    await ddc.connect(providers[i]).nodeTrustManager(manager.address);
    await ddc.connect(providers[i]).nodeTrustManager(manager2.address);
  }
  await ddc.connect(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, priceNotice: 10 * DAY }, GIB);
  await ddc.connect(manager2).clusterCreate(manager2.address, { ...CLUSTER_PARAMS, priceNotice: 0 }, GIB);
  await ddc.connect(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, priceNotice: 2 * DAY }, GIB);
  await ddc.connect(manager2).clusterCreate(manager2.address, { ...CLUSTER_PARAMS, priceNotice: 3 * DAY }, GIB);
  for (const i of [0, 1, 2, 3]) await ddc.connect(manager).clusterAddNode(1n, BigInt(i + 1), tokensOf(i));
  for (const i of [1, 4]) await ddc.connect(manager2).clusterAddNode(2n, BigInt(i + 1), tokensOf(i));
  for (const i of [2, 4]) await ddc.connect(manager).clusterAddNode(3n, BigInt(i + 1), tokensOf(i));
  for (const i of [3, 4]) await ddc.connect(manager2).clusterAddNode(4n, BigInt(i + 1), tokensOf(i));
  // No bucket can be billed in clusters 3 and 4 yet: any factor in range is accepted.
  await ddc.connect(manager).clusterChangeParams(3n, { ...CLUSTER_PARAMS, priceNotice: 2 * DAY, replicationFactor: 1 });
  await ddc
    .connect(manager2)
    .clusterChangeParams(4n, { ...CLUSTER_PARAMS, priceNotice: 3 * DAY, replicationFactor: 4 });
  if (extend !== undefined) providers.push(...(await extend(f, manager2)));
  await ddc.connect(manager).clusterReserveResource(1n, 200n);
  await ddc.connect(manager2).clusterReserveResource(2n, 200n);
  await ddc.connect(manager).clusterReserveResource(3n, 100n);
  await ddc.connect(manager2).clusterReserveResource(4n, 100n);

  const owners = [f.owner1, f.owner2, f.stranger, f.others[4], f.others[5]];
  for (const s of [f.others[4], f.others[5], payer]) {
    await token.mint(s.address, 1_000_000n * USD);
    await token.connect(s).approve(coreAddress, ethers.MaxUint256);
  }
  // Buckets 1..12: (owner index, cluster).
  const buckets: [number, bigint][] = [
    [0, 1n],
    [0, 1n],
    [0, 2n],
    [1, 1n],
    [2, 1n],
    [2, 2n],
    [3, 2n],
    [3, 2n],
    [1, 3n],
    [4, 3n],
    [0, 4n],
    [3, 4n],
  ];
  for (const [o, c] of buckets) await ddc.connect(owners[o]).bucketCreate(c, "");
  // Small deposits: a few weeks without a top-up run most ledgers out.
  await ddc.connect(owners[0]).accountDeposit(1n, 60n * USD);
  await ddc.connect(owners[0]).accountDeposit(2n, 10n * USD);
  await ddc.connect(owners[1]).accountDeposit(1n, 15n * USD);
  await ddc.connect(owners[2]).accountDeposit(1n, 20n * USD);
  await ddc.connect(payer).depositFor(owners[3].address, 2n, 200n * USD);
  await ddc.connect(owners[1]).accountDeposit(3n, 30n * USD);
  await ddc.connect(owners[0]).accountDeposit(4n, 20n * USD);
  await ddc.connect(owners[0]).bucketAllocIntoCluster(1n, 10n);
  await ddc.connect(owners[0]).bucketAllocIntoCluster(2n, 5n);
  await ddc.connect(owners[0]).bucketAllocIntoCluster(3n, 3n);
  await ddc.connect(owners[1]).bucketAllocIntoCluster(4n, 4n);
  await ddc.connect(owners[2]).bucketAllocIntoCluster(5n, 2n);
  await ddc.connect(owners[3]).bucketAllocIntoCluster(7n, 6n);
  // Room above the reservation, so usage reports can bill more than it: as much as each ledger
  // keeps the runway of (the runway is kept on the caps).
  await ddc.connect(owners[0]).bucketSetCap(1n, 25n);
  await ddc.connect(owners[1]).bucketSetCap(4n, 7n);
  await ddc.connect(owners[3]).bucketSetCap(7n, 30n);
  // Pay-per-use: reservation 0, billed only what usage reports measure.
  await ddc.connect(owners[3]).bucketSetCap(8n, 10n);
  await ddc.connect(owners[1]).bucketSetCap(9n, 20n);
  // Twenty days on: owner 2 is settled into debt by a batch (arrears mode), owner 3 by one cap
  // change (in credit), owner 1 has run out in cluster 1 without being settled.
  await time.increase(20 * DAY);
  await ddc.connect(payer).bucketSettlePayment(1n, [4n]);
  await ddc.connect(owners[2]).bucketSetCap(5n, 2n);
  await ddc.connect(payer).bucketSettlePayment(2n, [3n, 7n]);
  // The last era's usage in cluster 2: owner 4's buckets measured above their reservations (their
  // caps may not go below that any more).
  const [era] = await ddc.clusterEra(2n);
  await ddc.connect(manager2).clusterReportUsage(2n, era - 1n, [7n, 8n], [20n, 8n], ethers.ZeroHash);
  return { ...f, manager2, providers, owners, payer, clusters: [1n, 2n, 3n, 4n] };
}

// ───────────────────────────────────────────── actions ─────────────────────────────────────────────

export type Action =
  | { kind: "deposit"; owner: number; cluster: number; amount: bigint; payer: number | null; debtor: boolean }
  | { kind: "alloc"; bucket: number; units: number }
  | { kind: "setCap"; bucket: number; mode: CapMode; extra: number; target: number }
  | { kind: "close"; bucket: number }
  | { kind: "usage"; cluster: number; picks: number[]; measured: number[]; earlier: boolean }
  | { kind: "settle"; cluster: number; picks: number[]; foreign: number | null }
  | {
      kind: "withdraw";
      owner: number;
      cluster: number;
      unlockPct: number;
      wait: number | null;
      pct: number;
      self: boolean;
      funded: boolean;
    }
  | { kind: "time"; seconds: number }
  | { kind: "toPending"; cluster: number; offset: number }
  | { kind: "rent"; node: number; bps: number; accept: number }
  | { kind: "addNode"; cluster: number; node: number; valid: boolean }
  | { kind: "removeNode"; cluster: number; node: number; valid: boolean }
  | { kind: "reserve"; cluster: number; delta: number }
  | { kind: "createBucket"; owner: number; cluster: number }
  | { kind: "unlockDelay"; days: number }
  | { kind: "grace"; hours: number }
  | { kind: "priceNotice"; cluster: number; days: number }
  | { kind: "params"; cluster: number; delta: number }
  | {
      kind: "race";
      cluster: number;
      zero: boolean;
      measured: number[];
      reportFirst: boolean;
      how: "rent" | "addNode";
      node: number;
      bps: number;
    };

/**
 * How a cap is chosen: `near` the reservation (one below it to four above), `raise` 1 to 12 above
 * both the reservation and the cap (pay-per-use: billed by usage up to it), `measured` between the
 * reservation and what the last report measured (capped by the cap it was measured under).
 */
export type CapMode = "near" | "raise" | "measured";

export const ix = fc.nat({ max: 1000 });
const amountArb = fc.oneof(
  fc.constant(1n),
  fc.bigInt({ min: 1n, max: 1000n }),
  fc.bigInt({ min: USD, max: 50n * USD }),
  fc.bigInt({ min: 50n * USD, max: 400n * USD }),
);
/** Measured units of five buckets, spread evenly (not biased to 0: reports above the reservations). */
const measuredArb = fc.array(fc.noBias(fc.nat({ max: 60 })), { minLength: 5, maxLength: 5 });
const secondsArb = fc.oneof(
  fc.integer({ min: 1, max: 60 }),
  fc.integer({ min: 60, max: 86_400 }),
  fc.integer({ min: 86_400, max: 7 * 86_400 }),
  fc.integer({ min: 7 * 86_400, max: 28 * 86_400 }),
);

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("deposit" as const),
      owner: ix,
      cluster: ix,
      amount: amountArb,
      payer: fc.oneof(fc.constant(null), fc.nat({ max: 1 })),
      debtor: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      bucket: ix,
      units: fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 40 }) }, fc.constant(0)),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("setCap" as const),
      bucket: ix,
      mode: fc.oneof(
        fc.constant("near" as const),
        { weight: 5, arbitrary: fc.constant("raise" as const) },
        { weight: 3, arbitrary: fc.constant("measured" as const) },
      ),
      extra: fc.nat({ max: 30 }),
      target: fc.nat({ max: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("close" as const), bucket: ix }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("usage" as const),
      cluster: ix,
      picks: fc.array(ix, { minLength: 1, maxLength: 5 }),
      measured: measuredArb,
      earlier: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("settle" as const),
      cluster: ix,
      picks: fc.array(ix, { maxLength: 6 }),
      foreign: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: ix }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("withdraw" as const),
      owner: ix,
      cluster: ix,
      // 100: all that is free at the unlock, then all that was unlocked, which the rent of the
      // wait makes too much at the withdrawal.
      unlockPct: fc.oneof(fc.integer({ min: 0, max: 110 }), fc.constant(100)),
      wait: fc.option(fc.constantFrom(-1, 0, 1, 3600), { nil: null, freq: 4 }),
      pct: fc.oneof(fc.integer({ min: 0, max: 110 }), fc.constant(100)),
      self: fc.boolean(),
      funded: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("time" as const), seconds: secondsArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("toPending" as const),
      cluster: ix,
      offset: fc.integer({ min: -2, max: 1 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("rent" as const),
      node: ix,
      bps: fc.oneof(fc.constant(10_000), fc.integer({ min: 1_000, max: 30_000 })),
      accept: fc.integer({ min: 0, max: 15 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("addNode" as const), cluster: ix, node: ix, valid: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("removeNode" as const), cluster: ix, node: ix, valid: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      cluster: ix,
      delta: fc.integer({ min: -3, max: 300 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("createBucket" as const), owner: ix, cluster: ix }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("unlockDelay" as const), days: fc.integer({ min: 0, max: 30 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("grace" as const), hours: fc.integer({ min: 1, max: 30 * 24 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("priceNotice" as const),
      cluster: ix,
      days: fc.integer({ min: 0, max: 30 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("params" as const),
      cluster: ix,
      delta: fc.oneof(
        { weight: 7, arbitrary: fc.constant(-1) },
        { weight: 4, arbitrary: fc.constant(1) },
        { weight: 3, arbitrary: fc.constant(2) },
        { weight: 1, arbitrary: fc.constant(-16) },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("race" as const),
      cluster: ix,
      zero: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      measured: measuredArb,
      reportFirst: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      how: fc.constantFrom("rent" as const, "addNode" as const),
      node: ix,
      bps: fc.integer({ min: 10_500, max: 30_000 }),
    }),
  },
);

// ────────────────────────────────────────────── model ──────────────────────────────────────────────

export interface NodeM {
  id: bigint;
  provider: HardhatEthersSigner;
  /** The rent the provider asks. */
  rent: bigint;
  capacity: bigint;
  /** How many vNodes the node takes when a cluster adds it. */
  vnodes: number;
}

/** Membership status in a cluster (NodeStatus). */
export const ACTIVE = 1n;
export const OFFLINE = 2n;

/** A node in a cluster, as the documented rules see it. */
export interface MemberM {
  /** The rent this cluster accepted. */
  rent: bigint;
  vnodes: bigint;
  /** The rent the member is charged now (below `rent` while an increase is announced). */
  charged: bigint;
  /** Its vNodes' ring tokens, in the order clusterNodeInfo lists them. */
  tokens: bigint[];
  status: bigint;
  /** When its provider may take it out (0: no request to leave). */
  leaveAt: bigint;
}

export interface ClusterM {
  id: bigint;
  manager: HardhatEthersSigner;
  priceNotice: bigint;
  replication: bigint;
  /** The largest replication factor in force since the last distribution: it caps the exclusions. */
  exclusionFactor: bigint;
  reservedPerVNode: bigint;
  /** Node index → membership. */
  members: Map<number, MemberM>;
  price: PriceModel;
  /** What distributions took out of the revenue pool so far. */
  distributed: bigint;
  /** How many of the chain's price checkpoints the notice property has looked at. */
  checkpointsSeen: number;
  /** Each announced time (of `ClusterPriceScheduled`) not cancelled: first announced when, with which notice, at what price last. */
  announcements: Map<bigint, { first: bigint; notice: bigint; price: bigint }>;
  /** The number of open billable buckets (cap > 0), from each transaction that changed it on. */
  billableLog: { time: bigint; count: number }[];
}

export function cloneMembers(members: Map<number, MemberM>): Map<number, MemberM> {
  return new Map([...members].map(([n, m]) => [n, { ...m, tokens: [...m.tokens] }]));
}

interface BucketM {
  id: bigint;
  owner: string;
  cluster: number;
  reserved: bigint;
  cap: bigint;
  closed: boolean;
  /** Measured units from the last usage report (0: none). */
  measured: bigint;
  /** 1 + the last era a usage report recorded (0: none). */
  reportedEras: bigint;
}

type Ddc = CoreFixture["ddc"];
type ViewOf<K extends "getCluster" | "clusterNodeInfo" | "clusterNodeTerms" | "getLedger" | "getBucket"> = Awaited<
  ReturnType<Ddc[K]>
>;

/** The views one check reads, in the order of the model's clusters (and members), ledgers and buckets. */
interface ChainReading {
  now: bigint;
  clusters: {
    view: ViewOf<"getCluster">;
    cps: Checkpoint[];
    /** `clusterPriceIndex`, when the standalone views are read. */
    index: bigint | null;
    nodes: number[];
    members: { info: ViewOf<"clusterNodeInfo">; terms: ViewOf<"clusterNodeTerms"> }[];
  }[];
  ledgers: { view: ViewOf<"getLedger">; free: bigint | null; covered: bigint | null }[];
  buckets: { view: ViewOf<"getBucket">; status: bigint | null }[];
}

/** What the events alone say of a ledger: for the bound on charges. */
interface Observed {
  paid: bigint;
  debt: bigint;
  at: bigint | null;
}

/** Coverage over the whole property, so that it cannot pass by reverting everything. */
export const stats = {
  ok: new Map<string, number>(),
  refused: new Map<string, number>(),
  arrears: 0,
  scheduled: 0,
  /** Increases announced while nothing was allocated in the cluster but a bucket could be billed. */
  scheduledUnallocated: 0,
  scheduledApplied: 0,
  /** Rises of the price in force: at an announced time, or at once (no bucket could be billed). */
  risesAnnounced: 0,
  risesAtOnce: 0,
  /** Caps raised above the reservation, and among them from a reservation of 0 (pay-per-use). */
  capsRaised: 0,
  payPerUse: 0,
  /**
   * Replication factors changed, and factor changes or removals that left a cluster with fewer nodes
   * than its factor (none of its buckets billable).
   */
  factorsChanged: 0,
  belowFactor: 0,
  /** Usage reports and price changes one second apart in the same era (both succeeded). */
  races: 0,
  /** Checks made while an announced increase was due but not yet written down. */
  dueUnwritten: 0,
  withdrawn: 0,
  depositsInDebt: 0,
  /** Buckets whose billed units a usage report changed. */
  usageChanged: 0,
};

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

const MAX_UINT40 = (1n << 40n) - 1n;

const key = (owner: string, cluster: number): string => `${owner.toLowerCase()}/${cluster}`;

export const trustKey = (provider: { address: string }, manager: { address: string }): string =>
  `${provider.address.toLowerCase()}/${manager.address.toLowerCase()}`;

export class World {
  nodes: NodeM[] = [];
  clusters: ClusterM[] = [];
  buckets: BucketM[] = [];
  ledgers = new Map<string, LedgerModel>();
  observed = new Map<string, Observed>();
  unlockDelay = 0n;
  grace = 0n;
  /** Whether checks also read the views that repeat `getLedger` and `getCluster` figures. */
  protected standaloneViews = true;
  /** (provider, manager) pairs where the provider trusts the manager. */
  trusted = new Set<string>();
  private readonly ifaces: Interface[];

  constructor(readonly f: InvariantFixture) {
    this.ifaces = [f.ddc.interface, f.core.interface];
  }

  /** Builds the model from the fixture's chain: its state, and its history from the events. */
  async load(): Promise<this> {
    const f = this.f;
    const { ddc } = f;
    const params = await ddc.globalParams();
    this.unlockDelay = params.unlockDelay;
    this.grace = params.gracePeriod;
    const managers = [f.manager, f.manager2];
    for (const p of f.providers) {
      for (const m of managers) if (await ddc.isManagerTrusted(p.address, m.address)) this.trusted.add(trustKey(p, m));
    }
    for (let id = 1n; id <= (await ddc.nodeCount()); id++) {
      const v = await ddc.getNode(id);
      const provider = f.providers.find((p) => p.address === v.provider);
      if (provider === undefined) throw new Error(`node ${id}: unknown provider ${v.provider}`);
      const vnodes = NODE_VNODES[Number(id) - 1] ?? 1;
      this.nodes.push({ id, provider, rent: v.rent, capacity: v.capacity, vnodes });
    }
    for (const id of f.clusters) {
      const view = await ddc.getCluster(id);
      expect(view.pendingPriceAt).to.equal(0n);
      const manager = managers.find((m) => m.address === view.manager);
      if (manager === undefined) throw new Error(`cluster ${id}: unknown manager ${view.manager}`);
      const members = new Map<number, MemberM>();
      for (const node of await ddc.clusterNodes(id)) {
        const info = await ddc.clusterNodeInfo(id, node);
        const terms = await ddc.clusterNodeTerms(id, node);
        members.set(Number(node) - 1, {
          rent: info.rent,
          vnodes: BigInt(info.tokens.length),
          charged: info.rent,
          tokens: [...info.tokens],
          status: info.status,
          leaveAt: terms.leaveAt,
        });
      }
      const cps = (await ddc.clusterPriceCheckpoints(id)).map((c) => ({
        time: c.time,
        index: c.index,
        price: c.price,
      }));
      this.clusters.push({
        id,
        manager,
        priceNotice: view.params.priceNotice,
        replication: view.params.replicationFactor,
        exclusionFactor: 0n,
        reservedPerVNode: view.reservedPerVNode,
        members,
        price: new PriceModel(cps, null),
        distributed: 0n,
        checkpointsSeen: cps.length,
        announcements: new Map(),
        billableLog: [],
      });
      this.announced.push(null);
    }
    const count = await ddc.bucketCount();
    for (let id = 1n; id <= count; id++) {
      const b = await ddc.getBucket(id);
      this.buckets.push({
        id,
        owner: b.owner,
        cluster: Number(b.cluster) - 1,
        reserved: 0n,
        cap: 0n,
        closed: false,
        measured: 0n,
        reportedEras: 0n,
      });
    }
    // History: deposits, settlements and allocations, in order, at their blocks' times.
    const logs = await ethers.provider.getLogs({ address: f.coreAddress, fromBlock: 0, toBlock: "latest" });
    for (const log of logs) {
      const parsed = ddc.interface.parseLog(log);
      if (parsed === null) continue;
      const t = BigInt((await ethers.provider.getBlock(log.blockNumber))!.timestamp);
      if (parsed.name === "Deposited") {
        const c = Number(parsed.args.cluster) - 1;
        this.ledger(parsed.args.owner as string, c).balance += parsed.args.amount as bigint;
      } else if (parsed.name === "LedgerSettled") {
        const owner = parsed.args.owner as string;
        const c = Number(parsed.args.cluster) - 1;
        const s = this.ledger(owner, c).settle(this.index(c), t);
        expect([s.paid, s.debt], "fixture settlement").to.deep.equal([parsed.args.paid, parsed.args.debt]);
        const o = this.observed.get(key(owner, c))!;
        o.paid += s.paid;
        o.debt = s.debt;
        o.at = t;
      } else if (parsed.name === "PaymentsSettled") {
        const c = Number(parsed.args.cluster) - 1;
        for (const e of decodeRecord(parsed.args.record as string)) {
          const owner = this.buckets[Number(e.bucket) - 1].owner;
          const s = this.ledger(owner, c).settle(this.index(c), t);
          expect([s.paid, s.debt], "fixture batch settlement").to.deep.equal([e.paid, e.debt]);
          const o = this.observed.get(key(owner, c))!;
          o.paid += s.paid;
          o.debt = s.debt;
          o.at = t;
        }
      } else if (parsed.name === "BucketAllocated") {
        const b = this.buckets[Number(parsed.args.bucket) - 1];
        const l = this.ledger(b.owner, b.cluster);
        const before = billedOf(b);
        l.capUnits += (parsed.args.cap as bigint) - b.cap;
        b.reserved = parsed.args.reserved as bigint;
        b.cap = parsed.args.cap as bigint;
        const billed = parsed.args.billed as bigint;
        expect(billedOf(b), "fixture billed units").to.equal(billed);
        l.setUnits(t, l.units - before + billed);
      } else if (parsed.name === "UsageReported") {
        // The fixture reports each bucket once: what it measured is what the bucket shows now.
        const era = parsed.args.era as bigint;
        const billed = parsed.args.billed as bigint[];
        for (const [i, id] of (parsed.args.buckets as bigint[]).entries()) {
          const b = this.buckets[Number(id) - 1];
          const l = this.ledger(b.owner, b.cluster);
          const before = billedOf(b);
          b.reportedEras = era + 1n;
          b.measured = (await ddc.getBucket(id)).measured;
          expect(billedOf(b), "fixture billed units after a report").to.equal(billed[i]);
          l.setUnits(t, l.units - before + billed[i]);
        }
      } else if (parsed.name === "ClusterCreated" || parsed.name === "ClusterParamsChanged") {
        // No distribution yet: the exclusions are capped by the largest factor ever in force.
        const cl = this.clusters[Number(parsed.args.cluster) - 1];
        const factor = BigInt(parsed.args.params.replicationFactor as bigint);
        if (factor > cl.exclusionFactor) cl.exclusionFactor = factor;
      }
    }
    for (let c = 0; c < this.clusters.length; c++)
      this.clusters[c].billableLog.push({ time: 0n, count: this.billable(c) });
    return this;
  }

  /**
   * The ledger of `owner` in cluster `c`, made (empty) the first time an action names it: the checks
   * read the ledgers some action named (any other is empty on the chain, and read nowhere).
   */
  ledger(owner: string, c: number): LedgerModel {
    const k = key(owner, c);
    let l = this.ledgers.get(k);
    if (l === undefined) {
      l = new LedgerModel(owner, this.clusters[c].id);
      this.ledgers.set(k, l);
      this.observed.set(k, { paid: 0n, debt: 0n, at: null });
    }
    return l;
  }

  signer(address: string): HardhatEthersSigner {
    const s = this.f.owners.find((o) => o.address === address);
    if (s === undefined) throw new Error(`no signer ${address}`);
    return s;
  }

  index(c: number): (t: bigint) => bigint {
    const p = this.clusters[c].price;
    return (t) => p.indexAt(t);
  }

  allocated(c: number): bigint {
    return this.buckets.filter((b) => b.cluster === c && !b.closed).reduce((s, b) => s + billedOf(b), 0n);
  }

  /** The open buckets of cluster `c` that can be billed (cap > 0). */
  billable(c: number): number {
    return this.buckets.filter((b) => b.cluster === c && !b.closed && b.cap > 0n).length;
  }

  /** How many buckets of cluster `c` could be billed just before `t` (no transaction changes it and a price together). */
  billableAt(c: number, t: bigint): number {
    const log = this.clusters[c].billableLog;
    for (let i = log.length - 1; i > 0; i--) if (log[i].time < t) return log[i].count;
    return log[0].count;
  }

  /** Notes the number of billable buckets of cluster `c` after a transaction at `now` that may have changed it. */
  noteBillable(c: number, now: bigint): void {
    const log = this.clusters[c].billableLog;
    const count = this.billable(c);
    if (log[log.length - 1].count !== count) log.push({ time: now, count });
  }

  /** Whether cluster `c` holds fewer nodes than its replication factor. */
  underReplicated(c: number): boolean {
    const cl = this.clusters[c];
    return BigInt(cl.members.size) < cl.replication;
  }

  target(c: number): bigint {
    let p = 0n;
    for (const m of this.clusters[c].members.values()) p += m.rent * m.vnodes;
    return p;
  }

  /** What the members are charged now. */
  inForce(c: number): bigint {
    let p = 0n;
    for (const m of this.clusters[c].members.values()) p += m.charged * m.vnodes;
    return p;
  }

  /** Before a price move at `now`: an announced increase that is due puts every member at its rent. */
  applyDue(c: number, now: bigint): void {
    const p = this.clusters[c].price;
    if (p.pending !== null && now >= p.pending.at) {
      for (const m of this.clusters[c].members.values()) m.charged = m.rent;
    }
  }

  notice(c: number): bigint {
    const n = this.clusters[c].priceNotice;
    const longer = n > this.unlockDelay ? n : this.unlockDelay;
    return longer > MIN_PRICE_NOTICE ? longer : MIN_PRICE_NOTICE; // the floor fixed in code
  }

  /** The rent per vNode member `n` of cluster `c` is charged at `now` (an increase due is in force). */
  inForceRent(c: number, n: number, now: bigint): bigint {
    const m = this.clusters[c].members.get(n);
    if (m === undefined) throw new Error(`node ${n + 1} is not in cluster ${c + 1}`);
    const p = this.clusters[c].price.pending;
    return p !== null && now >= p.at ? m.rent : m.charged;
  }

  /** What node `n` has reserved across its clusters. */
  reservedOf(n: number): bigint {
    let reserved = 0n;
    for (const cl of this.clusters) reserved += (cl.members.get(n)?.vnodes ?? 0n) * cl.reservedPerVNode;
    return reserved;
  }

  /** Whether the provider of node `n` trusts the manager of cluster `c`. */
  trusts(n: number, c: number): boolean {
    return this.trusted.has(trustKey(this.nodes[n].provider, this.clusters[c].manager));
  }

  /** Ring tokens for node `n` in cluster `c`: the first generation none of whose tokens is taken. */
  freeTokens(c: number, n: number): bigint[] {
    const taken = new Set<bigint>();
    for (const m of this.clusters[c].members.values()) for (const t of m.tokens) taken.add(t);
    for (let g = 0; ; g++) {
      const tokens = tokensOf(n, this.nodes[n].vnodes, g);
      if (tokens.every((t) => !taken.has(t))) return tokens;
    }
  }

  /**
   * Takes member `n` out of cluster `c` (the manager's removal, or the provider's leave after its
   * notice: `leave`), as the model predicts: refused below the replication factor while a bucket
   * can be billed; with none, the cluster may go below its factor.
   */
  async removeMember(
    label: string,
    c: number,
    n: number,
    tx: () => Promise<ContractTransactionResponse>,
    leave = false,
  ): Promise<ContractTransactionReceipt | null> {
    const cl = this.clusters[c];
    const m = cl.members.get(n);
    const now = await this.next();
    let expected: string | null = null;
    if (m === undefined) expected = "ClusterNodeNotMember";
    else if (leave && m.leaveAt === 0n) expected = "ClusterNodeNotLeaving";
    else if (leave && now < m.leaveAt) expected = "ClusterNodeLeaveNotDue";
    else if (this.billable(c) !== 0 && BigInt(cl.members.size - 1) < cl.replication)
      expected = "ClusterBelowReplication";
    if (expected === null) {
      this.applyDue(c, now);
      cl.members.delete(n);
      this.movePrice(c, now);
    }
    const r = await this.send(label, expected, [], tx);
    if (r !== null && this.underReplicated(c)) stats.belowFactor++;
    return r;
  }

  /**
   * The manager changes cluster `c`'s parameters to this replication factor and price notice, as the
   * model predicts: while a bucket can be billed the factor cannot be lowered, nor raised above the
   * nodes; with none, any factor in range is accepted. A distribution then excludes by the largest
   * factor in force since the last one.
   */
  async changeParams(label: string, c: number, factor: bigint, priceNotice: bigint): Promise<void> {
    const cl = this.clusters[c];
    await this.next();
    let expected: string | null = null;
    if (factor < 1n || factor > 16n) expected = "DDCParameterOutOfRange";
    else if (this.billable(c) > 0 && factor < cl.replication) expected = "ClusterReplicationInUse";
    else if (this.billable(c) > 0 && BigInt(cl.members.size) < factor) expected = "ClusterBelowReplication";
    const r = await this.send(label, expected, [], () =>
      this.f.ddc.connect(cl.manager).clusterChangeParams(cl.id, {
        ...CLUSTER_PARAMS,
        replicationFactor: Number(factor),
        priceNotice: Number(priceNotice),
      }),
    );
    if (r === null) return;
    if (factor !== cl.replication) stats.factorsChanged++;
    cl.replication = factor;
    if (factor > cl.exclusionFactor) cl.exclusionFactor = factor;
    cl.priceNotice = priceNotice;
    if (this.underReplicated(c)) stats.belowFactor++;
  }

  /** Fixes the next block's time (one second on) and returns it. */
  async next(): Promise<bigint> {
    const now = BigInt(await time.latest()) + 1n;
    await time.setNextBlockTimestamp(now);
    return now;
  }

  /**
   * Sends a transaction whose outcome the model predicted: success with these settlements in this
   * order (`expected` null), or a revert with the named custom error. Anything else fails.
   */
  async send(
    label: string,
    expected: string | null,
    settlements: Settled[],
    tx: () => Promise<ContractTransactionResponse>,
  ): Promise<ContractTransactionReceipt | null> {
    let receipt: ContractTransactionReceipt | null;
    try {
      receipt = await (await tx()).wait();
    } catch (e) {
      const { name, args } = revertOf(e, this.ifaces);
      expect(
        name,
        `${label}: reverted with ${name}(${args.join(", ")}), model expected ${expected ?? "success"}`,
      ).to.equal(expected);
      bump(stats.refused, `${label}:${name}`);
      return null;
    }
    if (receipt === null) throw new Error(`${label}: no receipt`);
    expect(expected, `${label}: succeeded, model expected ${expected}`).to.equal(null);
    bump(stats.ok, label);
    const now = BigInt((await receipt.getBlock()).timestamp);
    const seen = settlementsOf(receipt, { address: this.f.coreAddress, iface: this.f.ddc.interface }, (b) => {
      return this.buckets[Number(b) - 1].owner;
    });
    expect(
      seen.map((s) => [s.owner.toLowerCase(), s.cluster, s.paid, s.debt]),
      `${label}: settlements (owner, cluster, paid, debt) against the model`,
    ).to.deep.equal(settlements.map((s) => [s.owner.toLowerCase(), s.cluster, s.paid, s.debt]));
    for (const s of seen) {
      const o = this.observed.get(key(s.owner, Number(s.cluster) - 1))!;
      o.paid += s.paid;
      o.debt = s.debt;
      o.at = now;
      if (s.debt > 0n) stats.arrears++;
    }
    // (c) an announced increase waits its notice, or keeps a time already announced for more; a
    // cancelled one is reported.
    const cancelled: [bigint, bigint, bigint][] = [];
    for (const log of receipt.logs) {
      const parsed = this.f.ddc.interface.parseLog(log);
      if (parsed?.name === "ClusterPriceScheduleCancelled") {
        const a = parsed.args;
        cancelled.push([a.cluster as bigint, a.cancelledPrice as bigint, a.cancelledAt as bigint]);
        this.clusters[Number(a.cluster) - 1].announcements.delete(a.cancelledAt as bigint);
      }
      if (parsed?.name !== "ClusterPriceScheduled") continue;
      stats.scheduled++;
      const c = Number(parsed.args.cluster) - 1;
      const at = parsed.args.effectiveAt as bigint;
      // The notice property's record: when this time was first announced, with which notice (a
      // time kept from an earlier announcement keeps that announcement's).
      const kept = this.announced[c]?.at === at ? this.clusters[c].announcements.get(at) : undefined;
      this.clusters[c].announcements.set(at, {
        first: kept?.first ?? now,
        notice: kept?.notice ?? this.notice(c),
        price: parsed.args.newPrice as bigint,
      });
      if (this.allocated(c) === 0n && this.billable(c) > 0) stats.scheduledUnallocated++;
      expect(at, "announced increase: effective time").to.equal(this.clusters[c].price.pending?.at);
      expect(parsed.args.newPrice, "announced increase: price").to.equal(this.clusters[c].price.pending?.price);
      expect(parsed.args.newPrice as bigint, "an announced change is an increase").to.be.greaterThan(
        parsed.args.currentPrice as bigint,
      );
      if (at < now + this.notice(c)) {
        expect(this.announced[c], "early effective time is only kept from an earlier announcement").to.not.equal(null);
        expect(at).to.equal(this.announced[c]!.at);
        expect(parsed.args.newPrice as bigint).to.be.at.most(this.announced[c]!.price);
      }
      if (this.announced[c] !== null) {
        expect(at, "an announced increase never moves earlier").to.be.at.least(this.announced[c]!.at);
      }
    }
    expect(cancelled, `${label}: cancelled announcements`).to.deep.equal(this.cancelling);
    this.cancelling = [];
    return receipt;
  }

  /** The last announcement seen per cluster (before the current transaction). */
  announced: ({ price: bigint; at: bigint } | null)[] = [];
  /** Announcements the current transaction cancels: (cluster, price, time). */
  cancelling: [bigint, bigint, bigint][] = [];

  /** A settlement the model predicts for one ledger at `now` (applied to the model). */
  settleModel(owner: string, c: number, now: bigint): Settled {
    const l = this.ledger(owner, c);
    const { paid, debt } = l.settle(this.index(c), now);
    return { owner, cluster: this.clusters[c].id, paid, debt };
  }

  /** Applies a price move to the model; notes what `send` must see announced or cancelled. */
  movePrice(c: number, now: bigint): void {
    const p = this.clusters[c].price;
    const before = p.pending;
    if (before !== null && now >= before.at) stats.scheduledApplied++;
    const announced = before !== null && now < before.at ? { ...before } : null;
    this.announced[c] = announced;
    const at = p.move(now, this.inForce(c), this.target(c), this.billable(c), this.notice(c));
    if (at === null) for (const m of this.clusters[c].members.values()) m.charged = m.rent;
    if (at === null && announced !== null && p.stored !== announced.price) {
      this.cancelling.push([this.clusters[c].id, announced.price, announced.at]);
    }
  }

  /**
   * An owner's change of a bucket's reservation and cap (`bucketAllocIntoCluster`, `bucketSetCap`),
   * as the model predicts it: `refused` (the cap's own checks) first, then the bucket is billed by
   * the one rule, and anything that grows (billed units or the cap) needs the cluster to hold its
   * replicas, billed growth the room of its reservation, and the settled ledger (without debt) the
   * runway of its caps at the price the cluster is heading to.
   */
  async rebill(
    label: string,
    b: BucketM,
    reserved: bigint,
    cap: bigint,
    refused: string | null,
    tx: () => Promise<ContractTransactionResponse>,
  ): Promise<ContractTransactionReceipt | null> {
    const c = b.cluster;
    const cl = this.clusters[c];
    const l = this.ledger(b.owner, c);
    const now = await this.next();
    const trial = l.clone();
    const s = trial.settle(this.index(c), now);
    const billedBefore = billedOf(b);
    const billedAfter = billedOf({ ...b, reserved, cap });
    let expected: string | null = b.closed ? "BucketIsClosed" : refused;
    if (expected === null && (billedAfter > billedBefore || cap > b.cap)) {
      const capUnits = l.capUnits - b.cap + cap;
      if (this.underReplicated(c)) expected = "ClusterBelowReplication";
      else if (billedAfter > billedBefore && this.allocated(c) - billedBefore + billedAfter > cl.reservedPerVNode)
        expected = "ClusterCapacityExceeded";
      else if ((s.debt === 0n ? trial.balance : 0n) < runway(capUnits, cl.price.target, this.grace))
        expected = "LedgerInsufficientRunway";
    }
    const settled = expected === null ? [{ owner: b.owner, cluster: cl.id, ...s }] : [];
    const r = await this.send(label, expected, settled, tx);
    if (r !== null) {
      this.settleModel(b.owner, c, now);
      l.setUnits(now, l.units - billedBefore + billedAfter);
      l.capUnits += cap - b.cap;
      b.reserved = reserved;
      b.cap = cap;
      this.noteBillable(c, now);
      const [e] = this.events(r, "BucketAllocated");
      expect(e.args.toArray(true), `${label}: BucketAllocated`).to.deep.equal([b.id, reserved, cap, billedAfter]);
    }
    return r;
  }

  /**
   * The bucket a cap change is tried on: any bucket (`target` 0), else one the mode is about when
   * there is one — for `raise` an open bucket in an under-replicated cluster (`target` 1), or one
   * with no reservation in a cluster that holds its replicas, whose owner has a deposit there (2,
   * 3) or has none (4); for `measured` one measured above its reservation.
   */
  capTarget(a: Extract<Action, { kind: "setCap" }>): BucketM {
    const any = this.buckets[a.bucket % this.buckets.length];
    if (a.target === 0 || a.mode === "near") return any;
    let pool: BucketM[];
    if (a.mode === "raise") {
      pool = this.buckets.filter((b) => !b.closed && b.reserved === 0n);
      const held = pool.filter((b) => !this.underReplicated(b.cluster));
      const hasDeposit = (b: BucketM): boolean => (this.ledgers.get(key(b.owner, b.cluster))?.balance ?? 0n) > 0n;
      const funded = (deposit: boolean): BucketM[] => held.filter((b) => hasDeposit(b) === deposit);
      const under = this.buckets.filter((b) => !b.closed && this.underReplicated(b.cluster));
      const targeted = a.target === 1 ? under : a.target === 4 ? funded(false) : funded(true);
      if (targeted.length > 0) pool = targeted;
    } else {
      pool = this.buckets.filter((b) => !b.closed && (b.measured < b.cap ? b.measured : b.cap) > b.reserved);
    }
    return pool.length > 0 ? pool[a.bucket % pool.length] : any;
  }

  /** The events of one kind a receipt holds. */
  events(r: ContractTransactionReceipt, ...names: string[]): LogDescription[] {
    const out: LogDescription[] = [];
    for (const log of r.logs) {
      const parsed = this.f.ddc.interface.parseLog(log);
      if (parsed !== null && names.includes(parsed.name)) out.push(parsed);
    }
    return out;
  }

  // ─────────────────────────────────────────── execution ───────────────────────────────────────────

  async exec(a: Action): Promise<void> {
    const { ddc } = this.f;
    switch (a.kind) {
      case "deposit": {
        let owner = this.f.owners[a.owner % this.f.owners.length];
        let c = a.cluster % this.clusters.length;
        // Mostly, top up a ledger with debt if there is one.
        const debtors = [...this.ledgers.values()].filter((x) => x.debt > 0n);
        if (a.debtor && debtors.length > 0) {
          const d = debtors[(a.owner + a.cluster) % debtors.length];
          owner = this.signer(d.owner);
          c = Number(d.cluster) - 1;
        }
        const l = this.ledger(owner.address, c);
        const payer = a.payer === null ? owner : [this.f.payer, this.f.stranger][a.payer];
        const now = await this.next();
        // A ledger with debt settles at once: the deposit repays the debt first. A ledger that ran
        // out unnoticed (no settlement since) is settled before the deposit, recording its debt.
        const inDebt = l.debt > 0n;
        const short = !inDebt && l.clone().settle(this.index(c), now).debt > 0n;
        const trial = l.clone();
        const expected: Settled[] = [];
        if (short) {
          const { paid, debt } = trial.settle(this.index(c), now);
          expected.push({ owner: owner.address, cluster: this.clusters[c].id, paid, debt });
        }
        trial.balance += a.amount;
        if (inDebt || short) {
          const { paid, debt } = trial.settle(this.index(c), now);
          expected.push({ owner: owner.address, cluster: this.clusters[c].id, paid, debt });
        }
        const before = await this.f.token.balanceOf(payer.address);
        const r = await this.send("deposit", null, expected, () =>
          a.payer === null
            ? ddc.connect(owner).accountDeposit(this.clusters[c].id, a.amount)
            : ddc.connect(payer).depositFor(owner.address, this.clusters[c].id, a.amount),
        );
        if (r !== null) {
          if (short) this.settleModel(owner.address, c, now);
          l.balance += a.amount;
          if (inDebt || short) {
            stats.depositsInDebt++;
            this.settleModel(owner.address, c, now);
          }
          expect(await this.f.token.balanceOf(payer.address)).to.equal(before - a.amount);
        }
        return;
      }
      case "alloc": {
        const b = this.buckets[a.bucket % this.buckets.length];
        const units = BigInt(a.units);
        await this.rebill("alloc", b, units, b.cap < units ? units : b.cap, null, () =>
          ddc.connect(this.signer(b.owner)).bucketAllocIntoCluster(b.id, units),
        );
        return;
      }
      case "setCap": {
        const b = this.capTarget(a);
        let cap: bigint;
        if (a.mode === "near") cap = b.reserved + BigInt(a.extra % 6) - 1n;
        else if (a.mode === "raise") cap = (b.cap > b.reserved ? b.cap : b.reserved) + 1n + BigInt(a.extra % 12);
        else {
          // Below the measured floor, down to the reservation; the floor itself (allowed) for `target` 4.
          const floor = b.measured < b.cap ? b.measured : b.cap;
          if (floor <= b.reserved) cap = b.reserved;
          else if (a.target === 4) cap = floor;
          else cap = floor - 1n - (BigInt(a.extra) % (floor - b.reserved));
        }
        if (cap < 0n) return;
        let refused: string | null = null;
        if (!b.closed && cap < b.reserved) refused = "BucketCapBelowReservation";
        else if (!b.closed && cap < (b.measured < b.cap ? b.measured : b.cap)) refused = "BucketCapBelowMeasured";
        const before = { reserved: b.reserved, cap: b.cap };
        const r = await this.rebill("setCap", b, b.reserved, cap, refused, () =>
          ddc.connect(this.signer(b.owner)).bucketSetCap(b.id, cap),
        );
        if (r !== null && cap > before.cap && cap > before.reserved) {
          stats.capsRaised++;
          if (before.reserved === 0n) stats.payPerUse++;
        }
        return;
      }
      case "close": {
        const b = this.buckets[a.bucket % this.buckets.length];
        const l = this.ledger(b.owner, b.cluster);
        const now = await this.next();
        const s = l.clone().settle(this.index(b.cluster), now);
        const expected = b.closed ? "BucketIsClosed" : null;
        const settled = expected === null ? [{ owner: b.owner, cluster: this.clusters[b.cluster].id, ...s }] : [];
        const r = await this.send("close", expected, settled, () =>
          ddc.connect(this.signer(b.owner)).bucketClose(b.id),
        );
        if (r !== null) {
          this.settleModel(b.owner, b.cluster, now);
          l.setUnits(now, l.units - billedOf(b));
          l.capUnits -= b.cap;
          b.closed = true;
          this.noteBillable(b.cluster, now);
        }
        return;
      }
      case "settle": {
        const c = a.cluster % this.clusters.length;
        const own = this.buckets.filter((b) => b.cluster === c);
        const list = a.picks.map((p) => own[p % own.length]);
        let expected: string | null = null;
        if (a.foreign !== null) {
          const others = this.buckets.filter((b) => b.cluster !== c);
          const foreign = others[a.foreign % others.length];
          list.splice(a.foreign % (list.length + 1), 0, foreign);
          expected = "BucketNotInCluster";
        }
        const now = await this.next();
        const poolBefore = (await ddc.getCluster(this.clusters[c].id)).revenuePool;
        const settled: Settled[] = [];
        if (expected === null) {
          const trials = new Map<string, LedgerModel>();
          for (const b of list) {
            const k = key(b.owner, c);
            const t = trials.get(k) ?? this.ledger(b.owner, c).clone();
            trials.set(k, t);
            const { paid, debt } = t.settle(this.index(c), now);
            settled.push({ owner: b.owner, cluster: this.clusters[c].id, paid, debt });
          }
        }
        const r = await this.send("settle", expected, settled, () =>
          ddc.connect(this.f.stranger).bucketSettlePayment(
            this.clusters[c].id,
            list.map((b) => b.id),
          ),
        );
        const poolAfter = (await ddc.getCluster(this.clusters[c].id)).revenuePool;
        if (r !== null) {
          for (const b of list) this.settleModel(b.owner, c, now);
          expect(poolAfter - poolBefore, "the pool grows by what the batch paid").to.equal(
            settled.reduce((s, x) => s + x.paid, 0n),
          );
        } else {
          expect(poolAfter, "a refused batch moves nothing").to.equal(poolBefore);
        }
        return;
      }
      case "withdraw": {
        let owner = this.f.owners[a.owner % this.f.owners.length];
        let c = a.cluster % this.clusters.length;
        // Mostly a ledger with something free in it.
        const latest = BigInt(await time.latest());
        const funded = [...this.ledgers.values()].filter((x) => {
          const c = Number(x.cluster) - 1;
          const due = x.chargedAt(this.index(c), latest) - x.paid;
          return x.balance > due + runway(x.capUnits, this.clusters[c].price.target, this.grace);
        });
        if (a.funded && funded.length > 0) {
          const d = funded[(a.owner + a.cluster) % funded.length];
          owner = this.signer(d.owner);
          c = Number(d.cluster) - 1;
        }
        const cl = this.clusters[c];
        const l = this.ledger(owner.address, c);
        // Announce: a share of what is free now (funded) or of the balance (0 cancels). More than
        // is free now (the balance after the rent owed, less the runway) is refused at once.
        let now = await this.next();
        const atUnlock = l.clone();
        atUnlock.settle(this.index(c), now);
        const rwNow = runway(l.capUnits, cl.price.target, this.grace);
        const freeNow = atUnlock.balance > rwNow ? atUnlock.balance - rwNow : 0n;
        const unlock = ((a.funded ? freeNow : l.balance) * BigInt(a.unlockPct)) / 100n;
        const unlocked = await this.send("unlock", unlock > freeNow ? "LedgerInsufficientFree" : null, [], () =>
          ddc.connect(owner).accountUnlock(cl.id, unlock),
        );
        if (unlocked !== null) {
          l.unlockAmount = unlock;
          l.unlockAt = unlock === 0n ? 0n : now + this.unlockDelay;
        }
        if (a.wait !== null && l.unlockAt !== 0n) {
          const to = l.unlockAt + BigInt(a.wait) - 1n;
          if (to > BigInt(await time.latest())) await time.increaseTo(to);
        }
        const amount = (l.unlockAmount * BigInt(a.pct)) / 100n;
        const to = a.self ? owner.address : this.f.others[7].address;
        now = await this.next();
        const trial = l.clone();
        const s = trial.settle(this.index(c), now);
        const rw = runway(l.capUnits, cl.price.target, this.grace);
        const free = trial.balance > rw ? trial.balance - rw : 0n;
        let expected: string | null = null;
        if (amount === 0n) expected = "DDCZeroAmount";
        else if (l.unlockAt === 0n || now < l.unlockAt) expected = "LedgerLocked";
        else if (amount > l.unlockAmount) expected = "LedgerUnlockExceeded";
        else if (amount > free) expected = "LedgerInsufficientFree";
        const before = await this.f.token.balanceOf(to);
        const settled = expected === null ? [{ owner: owner.address, cluster: cl.id, ...s }] : [];
        const r = await this.send("withdraw", expected, settled, () =>
          ddc.connect(owner).accountWithdraw(cl.id, amount, to),
        );
        if (r !== null) {
          stats.withdrawn++;
          this.settleModel(owner.address, c, now);
          l.balance -= amount;
          if (amount === l.unlockAmount) l.unlockAt = 0n;
          l.unlockAmount -= amount;
          expect(await this.f.token.balanceOf(to), "the withdrawal reaches `to`").to.equal(before + amount);
        }
        return;
      }
      case "time": {
        await time.increaseTo(BigInt(await time.latest()) + BigInt(a.seconds));
        return;
      }
      case "toPending": {
        const p = this.clusters[a.cluster % this.clusters.length].price.pending;
        const latest = BigInt(await time.latest());
        if (p === null || p.at + BigInt(a.offset) <= latest) {
          await time.increaseTo(latest + 1n);
        } else {
          await time.increaseTo(p.at + BigInt(a.offset));
        }
        return;
      }
      case "rent": {
        const n = a.node % this.nodes.length;
        const node = this.nodes[n];
        const rent = (node.rent * BigInt(a.bps)) / 10_000n;
        await this.next();
        await this.send("nodeChangeRent", null, [], () => ddc.connect(node.provider).nodeChangeRent(node.id, rent));
        node.rent = rent;
        for (let c = 0; c < this.clusters.length; c++) {
          if (((a.accept >> c) & 1) === 0) continue;
          const cl = this.clusters[c];
          const m = cl.members.get(n);
          const now = await this.next();
          const expected = m === undefined ? "ClusterNodeNotMember" : m.rent === rent ? "ClusterRentUnchanged" : null;
          if (expected === null) {
            this.applyDue(c, now);
            m!.rent = rent;
            if (rent <= m!.charged) m!.charged = rent; // a decrease from what it is charged: at once
            this.movePrice(c, now);
          }
          await this.send("accept", expected, [], () => ddc.connect(cl.manager).clusterAcceptNodeRent(cl.id, node.id));
        }
        return;
      }
      case "addNode": {
        const c = a.cluster % this.clusters.length;
        const cl = this.clusters[c];
        const outside = this.nodes.map((_, i) => i).filter((i) => !cl.members.has(i));
        const n = a.valid && outside.length > 0 ? outside[a.node % outside.length] : a.node % this.nodes.length;
        const node = this.nodes[n];
        const tokens = this.freeTokens(c, n);
        const now = await this.next();
        let expected: string | null = null;
        if (!this.trusts(n, c)) expected = "NodeManagerNotTrusted";
        else if (cl.members.has(n)) expected = "ClusterNodeAlreadyMember";
        else if (this.reservedOf(n) + cl.reservedPerVNode * BigInt(tokens.length) > node.capacity)
          expected = "NodeCapacityExceeded";
        if (expected === null) {
          this.applyDue(c, now);
          cl.members.set(n, {
            rent: node.rent,
            vnodes: BigInt(tokens.length),
            charged: 0n,
            tokens,
            status: ACTIVE,
            leaveAt: 0n,
          });
          this.movePrice(c, now);
        }
        await this.send("addNode", expected, [], () => ddc.connect(cl.manager).clusterAddNode(cl.id, node.id, tokens));
        return;
      }
      case "removeNode": {
        const c = a.cluster % this.clusters.length;
        const cl = this.clusters[c];
        const inside = [...cl.members.keys()];
        const n = a.valid && inside.length > 0 ? inside[a.node % inside.length] : a.node % this.nodes.length;
        await this.removeMember("removeNode", c, n, () =>
          ddc.connect(cl.manager).clusterRemoveNode(cl.id, this.nodes[n].id),
        );
        return;
      }
      case "reserve": {
        const c = a.cluster % this.clusters.length;
        const cl = this.clusters[c];
        const allocated = this.allocated(c);
        let units = allocated + BigInt(a.delta);
        if (units < 0n) units = 0n;
        await this.next();
        let expected: string | null = units < allocated ? "ClusterReservationBelowAllocation" : null;
        for (const [n, m] of cl.members) {
          const reserved = this.reservedOf(n) + (units - cl.reservedPerVNode) * m.vnodes;
          if (expected === null && reserved > this.nodes[n].capacity) expected = "NodeCapacityExceeded";
        }
        const r = await this.send("reserve", expected, [], () =>
          ddc.connect(cl.manager).clusterReserveResource(cl.id, units),
        );
        if (r !== null) cl.reservedPerVNode = units;
        return;
      }
      case "usage": {
        const c = a.cluster % this.clusters.length;
        const cl = this.clusters[c];
        const own = this.buckets.filter((b) => b.cluster === c);
        if (own.length === 0) return;
        const [current] = await ddc.clusterEra(cl.id);
        if (current === 0n) return;
        // The era before the current one, or an earlier one (replays are skipped).
        const era = a.earlier && current > 1n ? current - 2n : current - 1n;
        const picked = a.picks.map((p) => own[p % own.length]);
        const measured = picked.map((_, i) => BigInt(a.measured[i % a.measured.length]));
        const now = await this.next();
        // Predict: each bucket not closed and not yet reported for this era or a later one is
        // recorded; a change of billed units settles its ledger first.
        const trials = new Map<string, LedgerModel>();
        const settled: Settled[] = [];
        const applied: { b: BucketM; measured: bigint; before: bigint; after: bigint }[] = [];
        const seen = new Map<bigint, bigint>(); // bucket → reportedEras within this batch
        for (let i = 0; i < picked.length; i++) {
          const b = picked[i];
          const reported = seen.get(b.id) ?? b.reportedEras;
          if (b.closed || reported > era) continue;
          seen.set(b.id, era + 1n);
          const before = applied.filter((x) => x.b === b).at(-1)?.after ?? billedOf(b);
          const after = billedOf({ ...b, measured: measured[i] });
          applied.push({ b, measured: measured[i], before, after });
          if (after !== before) {
            const k = key(b.owner, c);
            const trial = trials.get(k) ?? this.ledger(b.owner, c).clone();
            trials.set(k, trial);
            const r = trial.settle(this.index(c), now);
            settled.push({ owner: b.owner, cluster: cl.id, ...r });
            trial.setUnits(now, trial.units + after - before);
          }
        }
        const r = await this.send("usage", null, settled, () =>
          ddc.connect(cl.manager).clusterReportUsage(
            cl.id,
            era,
            picked.map((b) => b.id),
            measured,
            ethers.ZeroHash,
          ),
        );
        if (r !== null) {
          for (const x of applied) {
            x.b.reportedEras = era + 1n;
            x.b.measured = x.measured;
            if (x.after !== x.before) {
              stats.usageChanged++;
              this.settleModel(x.b.owner, c, now);
              const l = this.ledger(x.b.owner, c);
              l.setUnits(now, l.units - x.before + x.after);
            }
          }
          for (const x of applied) {
            expect((await ddc.getBucket(x.b.id)).billed, "billed after a usage report").to.equal(billedOf(x.b));
          }
        }
        return;
      }
      case "createBucket": {
        const owner = this.f.owners[a.owner % this.f.owners.length];
        const c = a.cluster % this.clusters.length;
        await this.next();
        await this.send("createBucket", null, [], () => ddc.connect(owner).bucketCreate(this.clusters[c].id, ""));
        this.buckets.push({
          id: BigInt(this.buckets.length + 1),
          owner: owner.address,
          cluster: c,
          reserved: 0n,
          cap: 0n,
          closed: false,
          measured: 0n,
          reportedEras: 0n,
        });
        expect(await ddc.bucketCount()).to.equal(BigInt(this.buckets.length));
        return;
      }
      case "unlockDelay": {
        const delay = BigInt(a.days) * BigInt(DAY);
        await this.next();
        await this.send("unlockDelay", null, [], () => this.f.core.connect(this.f.governor).setUnlockDelay(delay));
        this.unlockDelay = delay;
        return;
      }
      case "priceNotice": {
        const c = a.cluster % this.clusters.length;
        await this.changeParams("priceNotice", c, this.clusters[c].replication, BigInt(a.days * DAY));
        return;
      }
      case "params": {
        // The replication factor up or down by the delta (out of range below 1): one time in three
        // in a cluster with no billable bucket, where any factor passes (a raise goes above its
        // nodes: it is left under-replicated), else in one with a billable bucket, whose owners rely
        // on its replicas (to lower, one with a factor above 1), if there is one.
        const all = this.clusters.map((_, c) => c);
        const free = all.filter((c) => this.billable(c) === 0);
        const billed = all.filter((c) => this.billable(c) > 0 && (a.delta > 0 || this.clusters[c].replication > 1n));
        const pool = a.cluster % 3 === 0 ? free : billed;
        const c = pool.length > 0 ? pool[a.cluster % pool.length] : a.cluster % this.clusters.length;
        const cl = this.clusters[c];
        const from = this.billable(c) === 0 && a.delta > 0 ? BigInt(cl.members.size) : cl.replication;
        const factor = from + BigInt(a.delta);
        await this.changeParams("params", c, factor < 0n ? 0n : factor, cl.priceNotice);
        return;
      }
      case "race": {
        // Half the time a cluster with a billable bucket and no reservation (a report at 0 leaves
        // nothing allocated there, and the increase still waits its notice), a quarter one with no
        // billable bucket (the increase applies at once), else one with a billable bucket, else any.
        const all = this.clusters.map((_, c) => c);
        const billable = all.filter((c) => this.billable(c) > 0);
        const unreserved = billable.filter((c) =>
          this.buckets.every((b) => b.cluster !== c || b.closed || b.reserved === 0n),
        );
        const pools = [unreserved, unreserved, all.filter((c) => this.billable(c) === 0), billable, all];
        const pool = pools.slice(a.cluster % 4).find((p) => p.length > 0)!;
        const c = pool[a.cluster % pool.length];
        const cl = this.clusters[c];
        const own = this.buckets.filter((b) => b.cluster === c);
        const usage: Action = {
          kind: "usage",
          cluster: c,
          picks: own.map((_, i) => i),
          measured: a.zero ? [0] : a.measured,
          earlier: false,
        };
        const inside = [...cl.members.keys()];
        const price: Action =
          a.how === "rent" && inside.length > 0
            ? { kind: "rent", node: inside[a.node % inside.length], bps: a.bps, accept: 1 << c }
            : { kind: "addNode", cluster: c, node: a.node, valid: true };
        const okBefore =
          (stats.ok.get("usage") ?? 0) + (stats.ok.get(price.kind === "rent" ? "accept" : "addNode") ?? 0);
        for (const x of a.reportFirst ? [usage, price] : [price, usage]) await this.exec(x);
        const okAfter =
          (stats.ok.get("usage") ?? 0) + (stats.ok.get(price.kind === "rent" ? "accept" : "addNode") ?? 0);
        if (okAfter === okBefore + 2) stats.races++;
        return;
      }
      case "grace": {
        const grace = BigInt(a.hours) * 3600n;
        await this.next();
        await this.send("grace", null, [], () => this.f.core.connect(this.f.governor).setGracePeriod(grace));
        this.grace = grace;
        return;
      }
    }
  }

  // ──────────────────────────────────────────── checks ─────────────────────────────────────────────

  /**
   * Every view a check reads, all at once (the checks read them in their own order): clusters and
   * buckets in one page each of the lens (which reads `getCluster` and `getBucket`), the views that
   * repeat `getLedger`, `getCluster` and `getBucket` figures on every fourth check.
   */
  async read(): Promise<ChainReading> {
    const { ddc, lens } = this.f;
    const standalone = this.standaloneViews && this.checks++ % 4 === 0;
    const none = Promise.resolve(null);
    const [now, clusterPage, clusters, ledgers, bucketPage, buckets] = await Promise.all([
      time.latest(),
      lens.listClusters(0, this.clusters.length, ethers.ZeroAddress),
      Promise.all(
        this.clusters.map((cl) =>
          Promise.all([
            ddc.clusterPriceCheckpoints(cl.id),
            standalone ? ddc.clusterPriceIndex(cl.id) : none,
            ddc.clusterNodes(cl.id),
            Promise.all(
              [...cl.members.keys()].map((n) =>
                Promise.all([
                  ddc.clusterNodeInfo(cl.id, this.nodes[n].id),
                  ddc.clusterNodeTerms(cl.id, this.nodes[n].id),
                ]),
              ),
            ),
          ]),
        ),
      ),
      Promise.all(
        [...this.ledgers.values()].map((l) =>
          Promise.all([
            ddc.getLedger(l.owner, l.cluster),
            standalone ? ddc.accountFreeBalance(l.owner, l.cluster) : none,
            standalone ? ddc.rentCoveredUntil(l.owner, l.cluster) : none,
          ]),
        ),
      ),
      lens.listBuckets(0, this.buckets.length, ethers.ZeroAddress, 0, true),
      Promise.all(this.buckets.map((b) => (standalone ? ddc.bucketStatus(b.id) : none))),
    ]);
    const [clusterViews] = clusterPage;
    const [bucketViews] = bucketPage;
    expect(clusterViews.map((v) => v.id)).to.deep.equal(this.clusters.map((cl) => cl.id));
    expect(bucketViews.map((v) => v.id)).to.deep.equal(this.buckets.map((b) => b.id));
    return {
      now: BigInt(now),
      clusters: clusters.map(([cps, index, nodes, members], c) => ({
        view: clusterViews[c],
        cps: cps.map((x) => ({ time: x.time, index: x.index, price: x.price })),
        index,
        nodes: nodes.map((id) => Number(id) - 1),
        members: members.map(([info, terms]) => ({ info, terms })),
      })),
      ledgers: ledgers.map(([view, free, covered]) => ({ view, free, covered })),
      buckets: buckets.map((status, i) => ({ view: bucketViews[i], status })),
    };
  }

  /** Checks made so far (the repeated views are read on every fourth). */
  private checks = 0;

  async check(label: string): Promise<void> {
    const chain = await this.read();
    const now = chain.now;
    let pools = 0n;
    const chainCps: Checkpoint[][] = [];
    /** The chain's own figures, for the checks that compare the chain with itself. */
    const billableOnChain = new Map<bigint, bigint>();
    const capUnitsOnChain = new Map<string, bigint>();
    for (const [c, cl] of this.clusters.entries()) {
      const { view, cps, index } = chain.clusters[c];
      chainCps.push(cps);
      const p = cl.price;
      expect(cps, `${label}: cluster ${cl.id} checkpoints`).to.deep.equal(p.cps);
      if (index !== null) expect(index, `${label}: cluster ${cl.id} index`).to.equal(p.indexAt(now));
      expect(view.index).to.equal(p.indexAt(now));
      expect(view.price, `${label}: cluster ${cl.id} price`).to.equal(p.priceAt(now));
      expect(view.allocated, `${label}: cluster ${cl.id} allocated`).to.equal(this.allocated(c));
      expect(view.reservedPerVNode).to.equal(cl.reservedPerVNode);
      if (p.pending !== null && p.pending.at > now) {
        // (c) the announced price is not in force before its time.
        expect(view.pendingPriceAt, `${label}: cluster ${cl.id} pending time`).to.equal(p.pending.at);
        expect(view.pendingPrice).to.equal(p.pending.price);
        expect(view.price, `${label}: cluster ${cl.id} keeps its old price until the notice ends`).to.equal(p.stored);
        expect(view.price).to.be.lessThan(view.pendingPrice);
      } else {
        if (p.pending !== null) stats.dueUnwritten++;
        expect(view.pendingPriceAt, `${label}: cluster ${cl.id} has no pending price`).to.equal(0n);
      }
      expect(view.revenuePool, `${label}: cluster ${cl.id} pool is what its ledgers paid, less distributions`).to.equal(
        this.paidInto(c) - cl.distributed,
      );
      pools += view.revenuePool;
      expect(
        [view.params.replicationFactor, view.params.priceNotice, view.bucketCount],
        `${label}: cluster ${cl.id} factor, notice, buckets`,
      ).to.deep.equal([cl.replication, cl.priceNotice, BigInt(this.buckets.filter((b) => b.cluster === c).length)]);
      expect(view.billableBuckets, `${label}: cluster ${cl.id} billable buckets`).to.equal(BigInt(this.billable(c)));
      billableOnChain.set(cl.id, view.billableBuckets);
      // A cluster that cannot hold its replicas takes no new billing: it has no billable bucket.
      if (view.billableBuckets > 0n) {
        expect(view.nodeCount, `${label}: cluster ${cl.id} with a billable bucket holds its replicas`).to.be.at.least(
          view.params.replicationFactor,
        );
      }
      this.checkNotice(label, c, cps, view.price);
      this.checkMembers(label, c, chain.clusters[c], now);
    }
    let balances = 0n;
    const statuses = new Map<string, bigint>();
    for (const [i, [k, l]] of [...this.ledgers].entries()) {
      const c = Number(l.cluster) - 1;
      const { view: v, free, covered: coveredView } = chain.ledgers[i];
      balances += v.balance;
      const who = `${label}: ledger ${k}`;
      expect(v.balance, `${who} balance`).to.equal(l.balance);
      expect(v.units, `${who} units`).to.equal(l.units);
      expect(v.capUnits, `${who} cap units`).to.equal(l.capUnits);
      capUnitsOnChain.set(k, v.capUnits);
      expect(v.unlockAmount, `${who} unlock amount`).to.equal(l.unlockAmount);
      expect(v.unlockAt, `${who} unlock time`).to.equal(l.unlockAt);
      // Live: paid + debt + owed is the index's charge now, rounded down, to the unit.
      expect(l.paid + v.debt + v.owed, `${who} paid + debt + owed`).to.equal(l.chargedAt(this.index(c), now));
      // Arrears and the free balance follow from the same figures.
      const due = l.chargedAt(this.index(c), now) - l.paid;
      expect(v.arrearsSince !== 0n, `${who} in arrears`).to.equal(due > l.balance);
      const rw = runway(l.capUnits, this.clusters[c].price.target, this.grace);
      const left = due > l.balance ? 0n : l.balance - due;
      expect(v.runway, `${who} runway`).to.equal(rw);
      expect(v.free, `${who} free`).to.equal(left > rw ? left - rw : 0n);
      if (free !== null) expect(free).to.equal(v.free);
      // When the balance ran out, and until when it lasts at the announced prices.
      const idx = this.index(c);
      let since = 0n;
      if (due > l.balance) {
        since = l.debt > 0n ? l.arrearsSince : l.runsOutAfter(idx, l.lastSettled ?? 0n, now)!;
      }
      expect(v.arrearsSince, `${who} arrears since`).to.equal(since);
      let covered = since;
      if (since === 0n) covered = l.units === 0n ? MAX_UINT40 : (l.runsOutAfter(idx, now, MAX_UINT40) ?? MAX_UINT40);
      expect(v.coveredUntil, `${who} covered until`).to.equal(covered);
      if (coveredView !== null) expect(coveredView).to.equal(covered);
      statuses.set(k, since === 0n ? 1n : now >= since + this.grace ? 3n : 2n);
      // (b) what the events say was charged is bounded by the checkpoints' index.
      const o = this.observed.get(k)!;
      if (o.at !== null) {
        const idx = (t: bigint): bigint => indexFromCheckpoints(chainCps[c], this.clusters[c].price.pending, t);
        const exact = scaledCharge(l.periods, idx, o.at);
        const charged = o.paid + o.debt;
        expect(charged * MONTH, `${who} charged no more than the index`).to.be.at.most(exact);
        expect(charged, `${who} charged at least the index less one unit per unit change`).to.be.at.least(
          exact / MONTH - BigInt(l.unitChanges),
        );
        expect(o.paid, `${who} paid per events`).to.equal(l.paid);
      }
    }
    // Each bucket is the model's, billed by the one rule and never above its cap; its status
    // follows its ledger.
    const capsOnChain = new Map<string, bigint>();
    const billableCounted = new Map<bigint, bigint>();
    for (const [i, b] of this.buckets.entries()) {
      const who = `${label}: bucket ${b.id}`;
      const { view: v, status } = chain.buckets[i];
      expect(
        [v.owner, v.cluster, v.closed, v.reserved, v.cap, v.measured, v.billed],
        `${who} owner, cluster, closed, reserved, cap, measured, billed`,
      ).to.deep.equal([b.owner, this.clusters[b.cluster].id, b.closed, b.reserved, b.cap, b.measured, billedOf(b)]);
      expect(v.billed, `${who} billed no more than its cap`).to.be.at.most(v.cap);
      // A ledger no action named is empty: never in arrears.
      const expected = b.closed ? 4n : (statuses.get(key(b.owner, b.cluster)) ?? 1n);
      expect(v.status, `${who} status`).to.equal(expected);
      if (status !== null) expect(status, `${who} status view`).to.equal(expected);
      if (!v.closed) {
        const k = key(v.owner, b.cluster);
        capsOnChain.set(k, (capsOnChain.get(k) ?? 0n) + v.cap);
        if (v.cap > 0n) billableCounted.set(v.cluster, (billableCounted.get(v.cluster) ?? 0n) + 1n);
      }
    }
    // The chain agrees with itself: a ledger's cap units are the caps of its owner's open buckets
    // in the cluster, a cluster's billable buckets are its open buckets with a cap.
    for (const [k, caps] of capsOnChain) {
      expect(capUnitsOnChain.get(k) ?? 0n, `${label}: ledger ${k} cap units are the caps of its open buckets`).to.equal(
        caps,
      );
    }
    for (const [k, capUnits] of capUnitsOnChain) {
      expect(capUnits, `${label}: ledger ${k} cap units are the caps of its open buckets`).to.equal(
        capsOnChain.get(k) ?? 0n,
      );
    }
    for (const [id, count] of billableOnChain) {
      expect(count, `${label}: cluster ${id} billable buckets are its open buckets with a cap`).to.equal(
        billableCounted.get(id) ?? 0n,
      );
    }
    await this.conserve(label, balances, pools);
  }

  /**
   * (c) An owner never pays a price that was not announced with the notice: every rise of the price
   * in force on the chain (each new checkpoint above the one before) either comes at a time the
   * chain announced (`ClusterPriceScheduled`) at least the notice earlier, at the announced price,
   * or comes while the cluster had no open bucket that could be billed — whatever it allocated (a
   * pay-per-use bucket with nothing billed yet counts).
   */
  checkNotice(label: string, c: number, cps: readonly Checkpoint[], inForce: bigint): void {
    const cl = this.clusters[c];
    const rises: Checkpoint[] = [];
    for (let i = Math.max(1, cl.checkpointsSeen); i < cps.length; i++) {
      if (cps[i].price > cps[i - 1].price) rises.push(cps[i]);
    }
    cl.checkpointsSeen = cps.length;
    // A rise in force now but not written down yet (an announced increase fell due): its time is
    // the one announced.
    const last = cps[cps.length - 1];
    const due = cl.price.pending;
    if (inForce > last.price) {
      expect(
        due,
        `${label}: cluster ${cl.id} price in force above its last checkpoint only when an increase fell due`,
      ).to.not.equal(null);
      rises.push({ time: due!.at, index: 0n, price: inForce });
    }
    for (const cp of rises) {
      const who = `${label}: cluster ${cl.id} price rose to ${cp.price} at ${cp.time}`;
      const announced = cl.announcements.get(cp.time);
      if (announced !== undefined && announced.price === cp.price) {
        stats.risesAnnounced++;
        expect(cp.time - announced.first, `${who}: announced at least the notice before`).to.be.at.least(
          announced.notice,
        );
      } else {
        // (A change at once in the same second as an announced time falls here too.)
        stats.risesAtOnce++;
        expect(
          this.billableAt(c, cp.time),
          `${who}, not announced at that price (${announced?.price ?? "no announcement"}): no bucket could be billed`,
        ).to.equal(0);
      }
    }
  }

  /** What the ledgers of cluster `c` paid into its revenue pool so far. */
  paidInto(c: number): bigint {
    let paid = 0n;
    for (const l of this.ledgers.values()) if (l.cluster === this.clusters[c].id) paid += l.paid;
    return paid;
  }

  /** The members of cluster `c` on chain are the model's: status, accepted rent, tokens, rent in force, leave time. */
  checkMembers(label: string, c: number, chain: ChainReading["clusters"][number], now: bigint): void {
    const cl = this.clusters[c];
    expect(
      [...chain.nodes].sort((x, y) => x - y),
      `${label}: cluster ${cl.id} nodes`,
    ).to.deep.equal([...cl.members.keys()].sort((x, y) => x - y));
    for (const [i, [n, m]] of [...cl.members].entries()) {
      const who = `${label}: cluster ${cl.id} node ${n + 1}`;
      const { info, terms } = chain.members[i];
      expect([info.status, info.rent, [...info.tokens]], `${who} status, rent, tokens`).to.deep.equal([
        m.status,
        m.rent,
        m.tokens,
      ]);
      expect([terms.rentInForce, terms.leaveAt], `${who} rent in force, leave time`).to.deep.equal([
        this.inForceRent(c, n, now),
        m.leaveAt,
      ]);
    }
  }

  /** (a) conservation: the core holds the ledgers' balances and the revenue pools, to the unit. */
  protected async conserve(label: string, balances: bigint, pools: bigint): Promise<void> {
    const { token, coreAddress } = this.f;
    expect(await token.balanceOf(coreAddress), `${label}: conservation`).to.equal(balances + pools);
  }
}
