/**
 * Property-based tests of the providers' money: distribution, claims, fee balances, the reserve,
 * and node membership changes (removal, replacement, leaving). fast-check drives random action
 * sequences — the ledger suite's actions (./world.ts) and the provider side — against the
 * in-process chain; the model predicts each transaction's outcome (success, or the named custom
 * error: a refused action changes nothing). A distribution excludes at most `nodes − F` members,
 * F the largest replication factor in force since the previous distribution (a factor lowered in
 * between excludes no more); while a bucket can be billed, a replacement keeps the price in force
 * and, unless it keeps the number of nodes, the replicas. After every action:
 *
 * 1. conservation: the core's tokens are the ledgers' balances, the revenue pools, the fee
 *    balances, the reserves and every node's `nodeRevenue`, plus a dust of rounding that is never
 *    negative, is bounded by a counter (2 a distribution, 1 a membership sync, 1 a membership now),
 *    and is exactly what the model's carried remainders and per-node rounding say it is;
 * 2. flows: what was claimed, credited to fee balances and credited to reserves never exceeds what
 *    ledgers paid into the pools;
 * 3–4. a node's `nodeRevenue` moves only when a distribution of a cluster it is an eligible member of
 *    raises it (by its weight's share, to the unit) or a claim empties it: a node added after a
 *    distribution gets nothing from it, a removed or replaced node keeps exactly what it had;
 *    every node's total (claimed + claimable) is at most its exact share of every distribution it
 *    took part in, and less than one unit below it per rounding point;
 * 5. a claim pays `to` exactly the nodes' `nodeRevenue`, and claiming again pays 0.
 *
 * A second property: many small distributions pay each node what one big distribution does, but
 * for the node's weight share of the fees' rounding (each fee rounds down once per distribution,
 * so under two units per extra distribution go to the nodes), within one unit; a worked example
 * shows that share passing one unit per distribution.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { coreFixture, CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD, type CoreFixture } from "../helpers/fixtures";
import type { Settled } from "../helpers/model";
import { impersonate } from "../helpers/population";
import {
  ACTIVE,
  NODE_CAPACITY,
  OFFLINE,
  RUNS,
  SEED,
  World,
  actionArb,
  bump,
  buildInvariantFixture,
  cloneMembers,
  ix,
  tokensOf,
  trustKey,
  type Action,
  type InvariantFixture,
  type MemberM,
} from "./world";

/** Revenue per weight unit is scaled by this (DDCConstants.ACC_SCALE). */
const ACC_SCALE = 10n ** 24n;
const BPS = 10_000n;
const EVIDENCE = ethers.id("revenue invariants");

/** A node's signing key, unique per node id. */
function keyOf(id: bigint): string {
  return ethers.getAddress("0x" + (0xc0de0000n + id).toString(16).padStart(40, "0"));
}

/** A provider of no hardhat account (impersonated), the `i`th. */
async function extraProvider(i: number): Promise<HardhatEthersSigner> {
  const address = ethers.getAddress("0x" + "de".repeat(19) + i.toString(16).padStart(2, "0"));
  await impersonate(address);
  return ethers.getSigner(address);
}

/**
 * The ledger suite's fixture, with two more providers (trusting no manager yet) and node 6 of the
 * first of them (rent 1.25, one vNode, capacity 250: little over the reservation) in cluster 2, so
 * that cluster 2 can exclude a node from a distribution.
 */
async function revenueFixture(): Promise<InvariantFixture> {
  return buildInvariantFixture(async (f, manager2) => {
    const extra = [await extraProvider(1), await extraProvider(2)];
    await f.ddc.connect(extra[0]).nodeCreate(keyOf(6n), 250n, (5n * RENT) / 4n, NODE_PARAMS);
    await f.ddc.connect(extra[0]).nodeTrustManager(manager2.address);
    await f.ddc.connect(manager2).clusterAddNode(2n, 6n, tokensOf(5, 1));
    return extra;
  });
}

// ───────────────────────────────────────────── actions ─────────────────────────────────────────────

type RevenueAction =
  | {
      kind: "distribute";
      cluster: number;
      back: number;
      mask: number;
      outsider: boolean;
      fault: "none" | "notClosed" | "again" | "tooMany" | "lowered" | "order" | "intruder";
    }
  | {
      kind: "claim";
      provider: number;
      mask: number;
      earner: boolean;
      to: number;
      dup: boolean;
      fault: "none" | "foreign" | "zero";
    }
  | { kind: "withdrawBalance"; who: number; pct: number; self: boolean }
  | { kind: "withdrawReserve"; cluster: number; pct: number; self: boolean; intruder: boolean }
  | { kind: "replace"; cluster: number; node: number; picks: number[]; valid: boolean; lengthDelta: number }
  | { kind: "createNode"; provider: number; bps: number; capacity: number; vnodes: number }
  | { kind: "trust"; provider: number; manager: number; trusted: boolean }
  | { kind: "leave"; cluster: number; node: number; step: "request" | "cancel" | "leave"; wait: boolean }
  | { kind: "status"; cluster: number; node: number; offline: boolean };

const pctArb = fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 110 }));
const rare = (weight: number) => fc.oneof({ weight, arbitrary: fc.constant(false) }, fc.constant(true));

const revenueActionArb: fc.Arbitrary<RevenueAction> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("distribute" as const),
      cluster: ix,
      back: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat({ max: 3 })),
      mask: ix,
      outsider: rare(3),
      fault: fc.oneof(
        { weight: 8, arbitrary: fc.constant("none" as const) },
        { weight: 3, arbitrary: fc.constant("lowered" as const) },
        ...(["notClosed", "again", "tooMany", "order", "intruder"] as const).map((x) => fc.constant(x)),
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("claim" as const),
      provider: ix,
      mask: ix,
      earner: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      to: fc.nat({ max: 2 }),
      dup: rare(4),
      fault: fc.oneof(
        { weight: 8, arbitrary: fc.constant("none" as const) },
        fc.constant("foreign" as const),
        fc.constant("zero" as const),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("withdrawBalance" as const),
      who: fc.nat({ max: 3 }),
      pct: pctArb,
      self: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("withdrawReserve" as const),
      cluster: ix,
      pct: pctArb,
      self: fc.boolean(),
      intruder: rare(8),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("replace" as const),
      cluster: ix,
      node: ix,
      picks: fc.array(ix, { minLength: 4, maxLength: 4 }),
      valid: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      lengthDelta: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, fc.constantFrom(-1, 1)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("createNode" as const),
      provider: ix,
      bps: fc.integer({ min: 2_000, max: 30_000 }),
      capacity: fc.nat({ max: 3 }),
      vnodes: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("trust" as const),
      provider: ix,
      manager: fc.nat({ max: 1 }),
      trusted: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("leave" as const),
      cluster: ix,
      node: ix,
      step: fc.constantFrom("request" as const, "cancel" as const, "leave" as const),
      wait: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("status" as const), cluster: ix, node: ix, offline: fc.boolean() }),
  },
);

const anyActionArb: fc.Arbitrary<Action | RevenueAction> = fc.oneof(
  { weight: 14, arbitrary: actionArb },
  { weight: 19, arbitrary: revenueActionArb },
);

// ────────────────────────────────────────────── model ──────────────────────────────────────────────

/** What a node earned, as the model sees it. */
interface Earned {
  /** Its `nodeRevenue` at the last check. */
  last: bigint;
  /** Its exact share (scaled by ACC_SCALE) of every distribution it took part in. */
  ideal: bigint;
  claimed: bigint;
  /** Points where its revenue was rounded down: membership syncs and claims. */
  syncs: number;
}

/** Coverage of the provider side, so that the property cannot pass by reverting everything. */
const seen = {
  ok: new Map<string, number>(),
  refused: new Map<string, number>(),
  /** Distributions that paid nodes something. */
  paidNodes: 0,
  /** Members named ineligible (synced and skipped), and non-members skipped. */
  excluded: 0,
  /**
   * Distributions refused for excluding more than the largest factor since the last one allows,
   * though the factor in force (lowered since) would have allowed it.
   */
  exclusionsCapped: 0,
  skipped: 0,
  /** Claims that paid something. */
  claimsPaid: 0,
  /** Nodes that left a cluster (removal, replacement, leave) with revenue to claim. */
  leftWithRevenue: 0,
  /** Replacements that made a node join, and that gave vNodes to an existing member. */
  joined: 0,
  took: 0,
  /** Dust of rounding observed: the largest, and the largest bound. */
  maxDust: 0n,
  maxBound: 0n,
};

const sum = (xs: Iterable<bigint>): bigint => {
  let s = 0n;
  for (const x of xs) s += x;
  return s;
};

class RevenueWorld extends World {
  protected override standaloneViews = false;
  earned: Earned[] = [];
  /** Per cluster: revenue per weight (scaled), the carried remainder, the reserve, the next era. */
  acc: bigint[] = [];
  carry: bigint[] = [];
  reserve: bigint[] = [];
  nextEra: bigint[] = [];
  /** Internal fee balances by address (lower case). */
  fees = new Map<string, bigint>();
  feeAccounts: string[] = [];
  networkFeeBps = 0n;
  feeDestination = "";
  claimedTotal = 0n;
  feesCredited = 0n;
  reserveCredited = 0n;
  /** Σ over distributions of (excluded weight × increment) mod ACC_SCALE: the reserve's rounding. */
  reserveRounding = 0n;
  /** The dust bound's counter: 2 a distribution, 1 a rounding point. */
  dustBound = 0n;
  /** Node index → where the current action may take its revenue (absolute; else it must not move). */
  moves = new Map<number, [bigint, bigint]>();

  override async load(): Promise<this> {
    await super.load();
    const f = this.f;
    const { ddc } = f;
    const params = await ddc.globalParams();
    this.networkFeeBps = params.networkFeeBps;
    this.feeDestination = params.feeDestination.toLowerCase();
    this.feeAccounts = [params.feeDestination, f.manager.address, f.manager2.address, f.stranger.address].map((a) =>
      a.toLowerCase(),
    );
    for (const a of this.feeAccounts) this.fees.set(a, 0n);
    for (const cl of this.clusters) {
      const r = await ddc.clusterRevenue(cl.id);
      expect([r.reserve, r.revenuePerWeight, r.nextEra], "the fixture distributed nothing").to.deep.equal([0n, 0n, 0n]);
      this.acc.push(0n);
      this.carry.push(0n);
      this.reserve.push(0n);
      this.nextEra.push(0n);
    }
    for (const n of this.nodes) {
      expect(await ddc.nodeRevenue(n.id), `node ${n.id} earned nothing yet`).to.equal(0n);
      this.earned.push({ last: 0n, ideal: 0n, claimed: 0n, syncs: 0 });
    }
    return this;
  }

  /**
   * A cluster for a provider-side action: seven times in eight one of the first two (their owners
   * pay rent from the start, so their nodes earn), else any.
   */
  earning(x: number): number {
    return x % 8 === 7 ? Math.floor(x / 8) % this.clusters.length : x % 2;
  }

  memberships(n: number): number {
    return this.clusters.filter((cl) => cl.members.has(n)).length;
  }

  /** A rounding point of node `n`'s revenue. */
  synced(n: number, times = 1): void {
    this.earned[n].syncs += times;
    this.dustBound += BigInt(times);
  }

  /**
   * Sends a transaction the model predicted: a revert with the named custom error, or success
   * (checked as the ledger suite does); counts the membership syncs of rent acceptances and removals.
   */
  override async send(
    label: string,
    expected: string | null,
    settlements: Settled[],
    tx: () => Promise<ContractTransactionResponse>,
  ): Promise<ContractTransactionReceipt | null> {
    if (expected !== null) {
      await expect(tx(), `${label}: the model expected ${expected}`).to.be.revertedWithCustomError(
        this.f.ddc,
        expected,
      );
      bump(seen.refused, `${label}:${expected}`);
      return null;
    }
    const r = (await super.send(label, null, settlements, tx))!;
    bump(seen.ok, label);
    for (const e of this.events(r, "ClusterNodeRentAccepted", "ClusterNodeRemoved", "ClusterNodeReplaced")) {
      const n = Number(e.args.node) - 1;
      this.synced(n);
      if (e.name !== "ClusterNodeRentAccepted" && this.earned[n].last > 0n) seen.leftWithRevenue++;
    }
    return r;
  }

  override async exec(a: Action | RevenueAction): Promise<void> {
    switch (a.kind) {
      case "distribute":
        return this.distribute(a);
      case "claim":
        return this.claim(a);
      case "withdrawBalance":
        return this.withdrawBalance(a);
      case "withdrawReserve":
        return this.withdrawReserve(a);
      case "replace":
        return this.replace(a);
      case "createNode":
        return this.createNode(a);
      case "trust":
        return this.trust(a);
      case "leave":
        return this.leave(a);
      case "status":
        return this.status(a);
      default:
        return super.exec(a);
    }
  }

  // ──────────────────────────────────────────── actions ────────────────────────────────────────────

  async distribute(a: Extract<RevenueAction, { kind: "distribute" }>): Promise<void> {
    const { ddc } = this.f;
    // `lowered`: mostly a cluster whose factor was lowered since its last distribution.
    const lowered = this.clusters
      .map((_, c) => c)
      .filter((c) => {
        const cl = this.clusters[c];
        return cl.exclusionFactor > cl.replication && BigInt(cl.members.size) > cl.replication;
      });
    const c =
      a.fault === "lowered" && lowered.length > 0 ? lowered[a.cluster % lowered.length] : this.earning(a.cluster);
    const cl = this.clusters[c];
    const [era0, , end] = await ddc.clusterEra(cl.id);
    const now = await this.next();
    const current = now >= end ? era0 + 1n : era0;
    const next = this.nextEra[c];
    let era = current - 1n - BigInt(a.back);
    if (era < next) era = current - 1n;
    if (a.fault === "notClosed" || era < next) era = current;
    if (a.fault === "again" && next > 0n) era = next - 1n;
    // Ineligible: members picked by the mask (at most nodes − F of them, F the largest factor in
    // force since the last distribution), maybe a non-member. `lowered` excludes as many as the
    // factor in force now would allow.
    const members = [...cl.members.keys()].sort((x, y) => x - y);
    const room = (factor: bigint): number => (members.length > Number(factor) ? members.length - Number(factor) : 0);
    const most = room(cl.exclusionFactor);
    const outsiders = this.nodes.map((_, n) => n).filter((n) => !cl.members.has(n));
    let ineligible = members.filter((_, i) => ((a.mask >> i) & 1) === 1).slice(0, most);
    if (a.fault === "tooMany") ineligible = members.slice(0, most + 1);
    if (a.fault === "lowered") ineligible = members.slice(0, room(cl.replication));
    if (a.outsider) ineligible.push(outsiders.length > 0 ? outsiders[a.mask % outsiders.length] : this.nodes.length);
    ineligible.sort((x, y) => x - y);
    if (a.fault === "order" && ineligible.length > 0) {
      if (ineligible.length === 1 || a.mask % 2 === 0) ineligible.push(ineligible[0]);
      else ineligible.reverse();
    }
    const ids = ineligible.map((n) => BigInt(n + 1));
    const excluded = ineligible.filter((n) => cl.members.has(n));
    // Weights in force once a due increase is: the rent in force times the vNodes.
    const weight = new Map(members.map((n) => [n, this.inForceRent(c, n, now) * cl.members.get(n)!.vnodes]));
    const total = sum(weight.values());
    expect(total, "the members' weights add up to the price in force").to.equal(cl.price.priceAt(now));
    let expected: string | null = null;
    if (a.fault === "intruder") expected = "ClusterNotOperator";
    else if (era >= current) expected = "ClusterEraNotClosed";
    else if (era < next) expected = "ClusterEraAlreadyDistributed";
    else if (ids.some((id, i) => i > 0 && id <= ids[i - 1])) expected = "ClusterIneligibleNotIncreasing";
    else if (excluded.length > most) expected = "ClusterTooManyExclusions";
    const amount = this.paidInto(c) - cl.distributed;
    const managementFeeBps = (await ddc.getCluster(cl.id)).params.managementFeeBps;
    const networkFee = (amount * this.networkFeeBps) / BPS;
    const managementFee = (amount * managementFeeBps) / BPS;
    const rest = amount - networkFee - managementFee;
    const excludedWeight = sum(excluded.map((n) => weight.get(n)!));
    let inc = 0n;
    let carry = this.carry[c];
    if (total > 0n) {
      const scaled = rest * ACC_SCALE + carry;
      inc = scaled / total;
      carry = scaled % total;
    }
    const toReserve = total === 0n ? rest : (excludedWeight * inc) / ACC_SCALE;
    const toNodes = ((total - excludedWeight) * inc) / ACC_SCALE;
    const sender = a.fault === "intruder" ? this.f.stranger : cl.manager;
    const r = await this.send("distribute", expected, [], () =>
      ddc.connect(sender).clusterDistributeRevenues(cl.id, era, ids, EVIDENCE),
    );
    if (r === null) {
      if (expected === "ClusterTooManyExclusions" && excluded.length <= room(cl.replication)) seen.exclusionsCapped++;
      return;
    }
    const [d] = this.events(r, "RevenuesDistributed");
    expect(d.args.toArray(true), "RevenuesDistributed").to.deep.equal([
      cl.id,
      era,
      EVIDENCE,
      amount,
      networkFee,
      managementFee,
      toNodes,
      toReserve,
      ids,
    ]);
    const skipped = this.events(r, "DistributionNodeSkipped").map((e) => e.args.node as bigint);
    const outside = ineligible.filter((n) => !cl.members.has(n)).map((n) => BigInt(n + 1));
    expect(skipped, "non-members named ineligible are skipped").to.deep.equal(outside);
    // A due increase was written down first.
    this.applyDue(c, now);
    cl.price.applyDue(now);
    cl.distributed += amount;
    // From now on the exclusions are capped by the factor in force.
    cl.exclusionFactor = cl.replication;
    this.credit(this.feeDestination, networkFee);
    this.credit(cl.manager.address.toLowerCase(), managementFee);
    this.reserve[c] += toReserve;
    this.reserveCredited += toReserve;
    this.acc[c] += inc;
    this.carry[c] = carry;
    this.nextEra[c] = era + 1n;
    this.dustBound += 2n;
    this.reserveRounding += (excludedWeight * inc) % ACC_SCALE;
    for (const n of members) {
      if (excluded.includes(n)) {
        this.synced(n);
        seen.excluded++;
        continue;
      }
      const share = weight.get(n)! * inc;
      const e = this.earned[n];
      e.ideal += share;
      this.moves.set(n, [e.last + share / ACC_SCALE, e.last + (share + ACC_SCALE - 1n) / ACC_SCALE]);
    }
    seen.skipped += outside.length;
    if (toNodes > 0n) seen.paidNodes++;
  }

  /** Whether member `n` of cluster `c` may take vNodes at `now`: active, not leaving, charged its rent. */
  mayTake(m: MemberM, c: number, n: number, now: bigint): boolean {
    return m.status === ACTIVE && m.leaveAt === 0n && this.inForceRent(c, n, now) === m.rent;
  }

  credit(account: string, amount: bigint): void {
    this.fees.set(account, (this.fees.get(account) ?? 0n) + amount);
    this.feesCredited += amount;
  }

  async claim(a: Extract<RevenueAction, { kind: "claim" }>): Promise<void> {
    const { ddc, token } = this.f;
    // Mostly a provider with a node that has revenue, claiming at least that node.
    const earners = this.nodes.map((_, n) => n).filter((n) => this.earned[n].last > 0n);
    const earner = a.earner && earners.length > 0 ? earners[a.provider % earners.length] : null;
    const providers = this.f.providers;
    const provider = earner === null ? providers[a.provider % providers.length] : this.nodes[earner].provider;
    const own = this.nodes.map((_, n) => n).filter((n) => this.nodes[n].provider === provider);
    const list = own.filter((n, i) => ((a.mask >> i) & 1) === 1 || n === earner);
    if (a.dup && list.length > 0) list.push(list[0]);
    let expected: string | null = null;
    if (a.fault === "zero") expected = "DDCZeroAddress";
    else if (a.fault === "foreign") {
      const others = this.nodes.map((_, n) => n).filter((n) => this.nodes[n].provider !== provider);
      list.splice(
        a.mask % (list.length + 1),
        0,
        others.length > 0 ? others[a.mask % others.length] : this.nodes.length,
      );
      expected = others.length > 0 ? "NodeNotProvider" : "NodeNotFound";
    }
    const to =
      a.fault === "zero"
        ? ethers.ZeroAddress
        : [provider.address, this.f.others[7].address, this.f.stranger.address][a.to % 3];
    const ids = list.map((n) => BigInt(n + 1));
    await this.next();
    // What each named node pays: its revenue the first time it is named, nothing after.
    const named = new Set<number>();
    const owed = list.map((n) => {
      const amount = named.has(n) ? 0n : this.earned[n].last;
      named.add(n);
      return amount;
    });
    const before = await token.balanceOf(to);
    const r = await this.send("claim", expected, [], () => ddc.connect(provider).claim(ids, to));
    if (r === null) return;
    const claimedEvents = (receipt: ContractTransactionReceipt) =>
      this.events(receipt, "RevenueClaimed").map((e) => [...e.args]);
    const total = sum(owed);
    expect(claimedEvents(r), "RevenueClaimed: each node's revenue, once").to.deep.equal(
      ids.map((id, i) => [id, provider.address, to, owed[i]]),
    );
    expect((await token.balanceOf(to)) - before, "a claim pays `to` exactly the nodes' revenue").to.equal(total);
    for (const [i, n] of list.entries()) {
      this.earned[n].claimed += owed[i];
      this.earned[n].last = 0n;
      this.synced(n, this.memberships(n));
      this.moves.set(n, [0n, 0n]);
    }
    this.claimedTotal += total;
    if (total > 0n) seen.claimsPaid++;
    // Claiming again pays nothing.
    const again = await this.send("claim again", null, [], () => ddc.connect(provider).claim(ids, to));
    expect(claimedEvents(again!), "a second claim pays 0").to.deep.equal(
      ids.map((id) => [id, provider.address, to, 0n]),
    );
    expect(await token.balanceOf(to), "a second claim moves no token").to.equal(before + total);
  }

  async withdrawBalance(a: Extract<RevenueAction, { kind: "withdrawBalance" }>): Promise<void> {
    const { ddc, token } = this.f;
    const account = [this.f.feeDestination, this.f.manager, this.f.manager2, this.f.stranger][a.who];
    const balance = this.fees.get(account.address.toLowerCase())!;
    const amount = (balance * BigInt(a.pct)) / 100n;
    const to = a.self ? account.address : this.f.others[7].address;
    await this.next();
    const expected = amount > balance ? "DDCInsufficientBalance" : null;
    const before = await token.balanceOf(to);
    const r = await this.send("withdrawBalance", expected, [], () => ddc.connect(account).withdrawBalance(amount, to));
    if (r === null) return;
    expect(this.events(r, "BalanceWithdrawn").map((e) => [...e.args])).to.deep.equal([[account.address, to, amount]]);
    expect((await token.balanceOf(to)) - before, "the fee balance reaches `to`").to.equal(amount);
    this.fees.set(account.address.toLowerCase(), balance - amount);
  }

  async withdrawReserve(a: Extract<RevenueAction, { kind: "withdrawReserve" }>): Promise<void> {
    const { ddc, token } = this.f;
    const c = this.earning(a.cluster);
    const cl = this.clusters[c];
    const amount = (this.reserve[c] * BigInt(a.pct)) / 100n;
    const sender = a.intruder ? this.f.stranger : cl.manager;
    const to = a.self ? cl.manager.address : this.f.others[7].address;
    await this.next();
    let expected: string | null = null;
    if (a.intruder) expected = "ClusterNotManager";
    else if (amount > this.reserve[c]) expected = "ClusterReserveInsufficient";
    const before = await token.balanceOf(to);
    const r = await this.send("withdrawReserve", expected, [], () =>
      ddc.connect(sender).clusterWithdrawReserve(cl.id, amount, to),
    );
    if (r === null) return;
    expect((await token.balanceOf(to)) - before, "the reserve reaches `to`").to.equal(amount);
    this.reserve[c] -= amount;
  }

  /**
   * Hands each vNode of a member to a replacement (valid: another active member not leaving, or a
   * node outside; invalid: anything, the node itself, an unknown id, a wrong count), as predicted.
   */
  async replace(a: Extract<RevenueAction, { kind: "replace" }>): Promise<void> {
    const { ddc } = this.f;
    const c = this.earning(a.cluster);
    const cl = this.clusters[c];
    const inside = [...cl.members.keys()];
    if (inside.length === 0) return;
    const n = a.valid ? inside[a.node % inside.length] : a.node % this.nodes.length;
    const leaving = cl.members.get(n);
    const k = Math.max(0, (leaving?.tokens.length ?? 1) + a.lengthDelta);
    const now0 = BigInt(await time.latest()) + 1n;
    const candidates = a.valid
      ? this.nodes
          .map((_, i) => i)
          .filter((i) => {
            const m = cl.members.get(i);
            return i !== n && (m === undefined ? this.trusts(i, c) : this.mayTake(m, c, i, now0));
          })
      : this.nodes.map((_, i) => i).concat([this.nodes.length]);
    if (candidates.length === 0) return;
    const picks = Array.from({ length: k }, (_, i) => candidates[a.picks[i % a.picks.length] % candidates.length]);
    const now = await this.next();
    expect(now).to.equal(now0);
    // Predicted on a copy: the chain changes nothing on a revert.
    const trial = cloneMembers(cl.members);
    const due = cl.price.pending !== null && now >= cl.price.pending.at;
    if (due) for (const m of trial.values()) m.charged = m.rent;
    const takers = new Set<number>();
    const joiners = new Set<number>();
    const taken = new Map<number, bigint>();
    let expected: string | null = null;
    const out = trial.get(n);
    if (out === undefined) expected = "ClusterNodeNotMember";
    else if (picks.length !== out.tokens.length) expected = "DDCLengthMismatch";
    else {
      trial.delete(n);
      for (const [i, r] of picks.entries()) {
        if (r === n) expected = "ClusterReplacementInvalid";
        else if (r >= this.nodes.length) expected = "NodeNotFound";
        else if (!this.trusts(r, c)) expected = "NodeManagerNotTrusted";
        if (expected !== null) break;
        let m = trial.get(r);
        if (m === undefined) {
          const rent = this.nodes[r].rent;
          m = {
            rent,
            vnodes: 0n,
            charged: rent > out.charged ? out.charged : rent,
            tokens: [],
            status: ACTIVE,
            leaveAt: 0n,
          };
          trial.set(r, m);
          joiners.add(r);
        } else if (!joiners.has(r) && !this.mayTake(m, c, r, now)) {
          expected = "ClusterReplacementInvalid";
          break;
        } else if (!joiners.has(r)) takers.add(r);
        m.vnodes += 1n;
        m.tokens.push(out.tokens[i]);
        taken.set(r, (taken.get(r) ?? 0n) + cl.reservedPerVNode);
        if (this.reservedOf(r) + taken.get(r)! > this.nodes[r].capacity) {
          expected = "NodeCapacityExceeded";
          break;
        }
      }
      // While a bucket can be billed: the price in force does not rise, and a replacement that
      // hands the vNodes to fewer nodes keeps the replicas (one for one always passes).
      if (expected === null && this.billable(c) > 0) {
        const inForce = sum([...trial.values()].map((m) => m.charged * m.vnodes));
        if (inForce > cl.price.priceAt(now)) expected = "ClusterReplacementRaisesPrice";
        else if (trial.size < cl.members.size && BigInt(trial.size) < cl.replication)
          expected = "ClusterBelowReplication";
      }
    }
    const ids = picks.map((r) => BigInt(r + 1));
    const node = BigInt(n + 1);
    if (expected === null) {
      this.applyDue(c, now);
      cl.members = trial;
      this.movePrice(c, now);
    }
    const r = await this.send("replace", expected, [], () =>
      ddc.connect(cl.manager).clusterReplaceNode(cl.id, node, ids, EVIDENCE),
    );
    if (r === null) return;
    const [e] = this.events(r, "ClusterNodeReplaced");
    expect(e.args.toArray(true), "ClusterNodeReplaced").to.deep.equal([cl.id, node, out!.tokens, ids, EVIDENCE]);
    for (const t of takers) this.synced(t);
    seen.joined += joiners.size > 0 ? 1 : 0;
    seen.took += takers.size > 0 ? 1 : 0;
  }

  async createNode(a: Extract<RevenueAction, { kind: "createNode" }>): Promise<void> {
    const provider = this.f.providers[a.provider % this.f.providers.length];
    const rent = (RENT * BigInt(a.bps)) / BPS;
    const capacity = [NODE_CAPACITY, 1_000n, 250n, 0n][a.capacity];
    const id = BigInt(this.nodes.length + 1);
    await this.next();
    await this.send("createNode", null, [], () =>
      this.f.ddc.connect(provider).nodeCreate(keyOf(id), capacity, rent, NODE_PARAMS),
    );
    expect(await this.f.ddc.nodeCount()).to.equal(id);
    this.nodes.push({ id, provider, rent, capacity, vnodes: a.vnodes });
    this.earned.push({ last: 0n, ideal: 0n, claimed: 0n, syncs: 0 });
  }

  async trust(a: Extract<RevenueAction, { kind: "trust" }>): Promise<void> {
    const provider = this.f.providers[a.provider % this.f.providers.length];
    const manager = [this.f.manager, this.f.manager2][a.manager];
    await this.next();
    const ddc = this.f.ddc.connect(provider);
    await this.send("trust", null, [], () =>
      a.trusted ? ddc.nodeTrustManager(manager.address) : ddc.nodeDistrustManager(manager.address),
    );
    if (a.trusted) this.trusted.add(trustKey(provider, manager));
    else this.trusted.delete(trustKey(provider, manager));
  }

  /** A provider asks to leave, cancels, or leaves (after waiting out the notice if `wait`). */
  async leave(a: Extract<RevenueAction, { kind: "leave" }>): Promise<void> {
    // Mostly a member (a leaving one, to cancel or leave, and sometimes to ask again), else anything.
    const members = (leaving: boolean): [number, number][] =>
      this.clusters.flatMap((cl, c) =>
        [...cl.members].filter(([, m]) => !leaving || m.leaveAt !== 0n).map(([n]): [number, number] => [c, n]),
      );
    // With nobody leaving yet, mostly ask first.
    const step = a.step !== "request" && members(true).length === 0 && a.node % 5 !== 0 ? "request" : a.step;
    const pool = members(step !== "request" || a.node % 3 === 0);
    const [c, n] =
      pool.length > 0 && a.node % 5 !== 0
        ? pool[a.node % pool.length]
        : [a.cluster % this.clusters.length, a.node % this.nodes.length];
    const cl = this.clusters[c];
    const node = this.nodes[n];
    const ddc = this.f.ddc.connect(node.provider);
    const m = cl.members.get(n);
    if (step === "leave") {
      if (a.wait && m !== undefined && m.leaveAt > BigInt(await time.latest()) + 1n)
        await time.increaseTo(m.leaveAt - 1n);
      await this.removeMember("leave", c, n, () => ddc.nodeLeaveCluster(node.id, cl.id), true);
      return;
    }
    const now = await this.next();
    let expected: string | null = null;
    if (m === undefined) expected = "ClusterNodeNotMember";
    else if (step === "request" && m.leaveAt !== 0n) expected = "ClusterNodeAlreadyLeaving";
    else if (step === "cancel" && m.leaveAt === 0n) expected = "ClusterNodeNotLeaving";
    const r = await this.send(step, expected, [], () =>
      step === "request" ? ddc.nodeRequestLeave(node.id, cl.id) : ddc.nodeCancelLeave(node.id, cl.id),
    );
    if (r !== null) m!.leaveAt = step === "request" ? now + this.notice(c) : 0n;
  }

  async status(a: Extract<RevenueAction, { kind: "status" }>): Promise<void> {
    const c = a.cluster % this.clusters.length;
    const cl = this.clusters[c];
    const inside = [...cl.members.keys()];
    const n = inside.length > 0 ? inside[a.node % inside.length] : a.node % this.nodes.length;
    const status = a.offline ? OFFLINE : ACTIVE;
    await this.next();
    const m = cl.members.get(n);
    const r = await this.send("status", m === undefined ? "ClusterNodeNotMember" : null, [], () =>
      this.f.ddc.connect(cl.manager).clusterSetNodeStatus(cl.id, this.nodes[n].id, status),
    );
    if (r !== null) m!.status = status;
  }

  // ──────────────────────────────────────────── checks ─────────────────────────────────────────────

  protected override async conserve(label: string, balances: bigint, pools: bigint): Promise<void> {
    const { ddc, token, coreAddress } = this.f;
    // 3–5: each node's revenue moved only as the action allowed; its total is its exact share, rounded down.
    let revenue = 0n;
    let shortfall = 0n;
    const views = await Promise.all(
      this.nodes.map((node) => Promise.all([ddc.nodeRevenue(node.id), ddc.getNode(node.id)])),
    );
    for (const [n, node] of this.nodes.entries()) {
      const e = this.earned[n];
      const who = `${label}: node ${node.id}`;
      const [v, nodeView] = views[n];
      const [lo, hi] = this.moves.get(n) ?? [e.last, e.last];
      expect(v, `${who} revenue (was ${e.last})`).to.be.within(lo, hi);
      e.last = v;
      revenue += v;
      const total = (v + e.claimed) * ACC_SCALE;
      expect(total, `${who} earned no more than its exact share`).to.be.at.most(e.ideal);
      const points = BigInt(e.syncs + this.memberships(n));
      if (points === 0n) expect(total, `${who} earned its exact share`).to.equal(e.ideal);
      else
        expect(e.ideal - total, `${who} earned its share less under a unit a rounding point`).to.be.lessThan(
          points * ACC_SCALE,
        );
      shortfall += e.ideal - total;
      expect(nodeView.reserved, `${who} reserved`).to.equal(this.reservedOf(n));
    }
    this.moves.clear();
    let fees = 0n;
    for (const account of this.feeAccounts) {
      const v = await ddc.accountBalance(account);
      expect(v, `${label}: fee balance of ${account}`).to.equal(this.fees.get(account));
      fees += v;
    }
    for (const [c, cl] of this.clusters.entries()) {
      const r = await ddc.clusterRevenue(cl.id);
      expect(
        [r.reserve, r.revenuePerWeight, r.nextEra],
        `${label}: cluster ${cl.id} reserve, acc, next era`,
      ).to.deep.equal([this.reserve[c], this.acc[c], this.nextEra[c]]);
    }
    const reserves = sum(this.reserve);
    // 1: conservation, with a dust of rounding that is never negative and bounded.
    const held = await token.balanceOf(coreAddress);
    const dust = held - (balances + pools + fees + reserves + revenue);
    const bound = this.dustBound + BigInt(sum(this.clusters.map((cl) => BigInt(cl.members.size))));
    expect(dust, `${label}: dust of rounding is not negative`).to.be.at.least(0n);
    expect(dust, `${label}: dust of rounding within its bound`).to.be.at.most(bound);
    // Exactly: the carried remainders, the reserve's rounding and the nodes' rounding.
    expect(dust * ACC_SCALE, `${label}: dust is the rounding the model counts`).to.equal(
      sum(this.carry) + this.reserveRounding + shortfall,
    );
    if (dust > seen.maxDust) seen.maxDust = dust;
    if (bound > seen.maxBound) seen.maxBound = bound;
    // 2: what left the pools never exceeds what the ledgers paid in; the difference is the dust.
    const paid = sum(this.clusters.map((_, c) => this.paidInto(c)));
    expect(this.claimedTotal + this.feesCredited + this.reserveCredited, `${label}: paid out ≤ paid in`).to.be.at.most(
      paid,
    );
    expect(
      paid - pools - (this.claimedTotal + revenue) - this.feesCredited - this.reserveCredited,
      `${label}: paid in, less pools and everything credited, is the dust`,
    ).to.equal(dust);
  }
}

// ───────────────────────────────────────── many and one ──────────────────────────────────────────

/** Sends transactions in one block (the same timestamp), in order; each must succeed. */
async function inOneBlock(txs: (() => Promise<ContractTransactionResponse>)[]): Promise<void> {
  await network.provider.send("evm_setAutomine", [false]);
  const sent: ContractTransactionResponse[] = [];
  try {
    for (const tx of txs) sent.push(await tx());
    await network.provider.send("evm_mine", []);
  } finally {
    await network.provider.send("evm_setAutomine", [true]);
  }
  for (const s of sent) expect((await s.wait())!.status).to.equal(1);
}

/** Cluster A is distributed every era, B once at the end; their nodes, owner and bucket are alike. */
const A = 1n;
const B = 2n;

interface Twins {
  f: CoreFixture;
  /** The nodes of A and of B, pairwise alike. */
  nodes: [bigint[], bigint[]];
  /** Each node's weight: rent × vNodes. */
  weights: bigint[];
  /** When both buckets were allocated. */
  start: bigint;
}

/**
 * Two alike clusters (replication 1, no notice): the same rents, vNodes and parameters; owner 1
 * deposits and allocates `units` in each in one block.
 */
async function twins(
  nodes: { rent: bigint; vnodes: number }[],
  units: bigint,
  networkFeeBps: number,
  managementFeeBps: number,
): Promise<Twins> {
  const f = await loadFixture(coreFixture);
  const { ddc, manager, owner1 } = f;
  const gas = { gasLimit: 2_000_000 };
  await f.core.connect(f.governor).setNetworkFee(networkFeeBps);
  const providers = [f.provider1, f.provider2];
  const params = { ...CLUSTER_PARAMS, replicationFactor: 1, managementFeeBps, priceNotice: 0 };
  for (const p of providers) {
    await ddc.connect(p).nodeTrustManager(manager.address);
    await ddc.connect(manager).clusterCreate(manager.address, params, GIB);
  }
  const ids: [bigint[], bigint[]] = [[], []];
  for (const [i, x] of nodes.entries()) {
    for (const side of [0, 1]) {
      await ddc
        .connect(providers[side])
        .nodeCreate(keyOf(BigInt(2 * i + side + 1)), NODE_CAPACITY, x.rent, NODE_PARAMS);
      const id = await ddc.nodeCount();
      ids[side].push(id);
      await ddc.connect(manager).clusterAddNode(BigInt(side + 1), id, tokensOf(i, x.vnodes));
    }
  }
  const deposit = 10_000n * USD;
  await inOneBlock(
    [A, B].flatMap((c) => [
      () => ddc.connect(manager).clusterReserveResource(c, 1_000n, gas),
      () => ddc.connect(owner1).bucketCreate(c, "", gas),
      () => ddc.connect(owner1).accountDeposit(c, deposit, gas),
      () => ddc.connect(owner1).bucketAllocIntoCluster(c, units, gas),
    ]),
  );
  const weights = nodes.map((x) => x.rent * BigInt(x.vnodes));
  return { f, nodes: ids, weights, start: BigInt(await time.latest()) };
}

/** Settles both buckets (bucket 1 in A, 2 in B) in one block, at `at` if given; both must pay the same. */
async function settleTwins(t: Twins, at?: bigint): Promise<void> {
  const { ddc, stranger, owner1 } = t.f;
  if (at !== undefined) await time.setNextBlockTimestamp(at);
  await inOneBlock([A, B].map((c) => () => ddc.connect(stranger).bucketSettlePayment(c, [c], { gasLimit: 2_000_000 })));
  const [a, b] = await Promise.all([A, B].map((c) => ddc.getLedger(owner1.address, c)));
  expect(a.balance, "both ledgers paid the same").to.equal(b.balance);
}

/** Distributes the last era that has ended; returns the RevenuesDistributed arguments. */
async function distributeLast(t: Twins, c: bigint): Promise<{ amount: bigint; fees: bigint; toReserve: bigint }> {
  const { ddc, manager } = t.f;
  const [era] = await ddc.clusterEra(c);
  const r = await (await ddc.connect(manager).clusterDistributeRevenues(c, era - 1n, [], EVIDENCE)).wait();
  const [e] = r!.logs.map((log) => ddc.interface.parseLog(log)).filter((x) => x?.name === "RevenuesDistributed");
  return { amount: e!.args.amount, fees: e!.args.networkFee + e!.args.managementFee, toReserve: e!.args.toReserve };
}

/** Each node of one side claims; what each was paid. */
async function claimTwins(t: Twins, side: 0 | 1): Promise<bigint[]> {
  const { ddc } = t.f;
  const provider = [t.f.provider1, t.f.provider2][side];
  const r = await (await ddc.connect(provider).claim(t.nodes[side], provider.address)).wait();
  return r!.logs
    .map((log) => ddc.interface.parseLog(log))
    .filter((e) => e?.name === "RevenueClaimed")
    .map((e) => e!.args.amount as bigint);
}

// ───────────────────────────────────────────── specs ───────────────────────────────────────────────

describe("revenue invariants (property-based)", function () {
  it("random sequences with the provider side keep conservation, bounded dust, flows, revenue moves and claims", async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(anyActionArb, { minLength: 12, maxLength: 30 }), async (actions) => {
        const f = await loadFixture(revenueFixture);
        const w = await new RevenueWorld(f).load();
        await w.check("fixture");
        for (const [i, a] of actions.entries()) {
          await w.exec(a);
          await w.check(`#${i} ${a.kind}`);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    if (process.env.FC_STATS !== undefined) console.log(seen);
    // Not vacuous: every kind of provider-side money movement happened, and refusals too.
    for (const kind of ["distribute", "claim", "withdrawBalance", "withdrawReserve", "replace", "createNode"]) {
      expect(seen.ok.get(kind) ?? 0, `successful ${kind}`).to.be.greaterThan(0);
    }
    for (const kind of ["distribute", "claim", "replace"]) {
      const refused = [...seen.refused].filter(([k]) => k.startsWith(`${kind}:`)).reduce((s, [, x]) => s + x, 0);
      expect(refused, `refused ${kind}`).to.be.greaterThan(0);
    }
    expect(seen.paidNodes, "distributions paying nodes").to.be.greaterThan(0);
    expect(seen.claimsPaid, "claims paying something").to.be.greaterThan(0);
    expect(seen.excluded, "ineligible members").to.be.greaterThan(0);
    expect(
      seen.exclusionsCapped,
      "exclusions capped by a factor lowered since the last distribution",
    ).to.be.greaterThan(0);
    expect(seen.leftWithRevenue, "nodes leaving a cluster with revenue").to.be.greaterThan(0);
    expect(seen.maxDust, "rounding dust observed").to.be.greaterThan(0n);
  });

  it("many small distributions pay each node what one big one does, but for its share of the fees' rounding", async function () {
    const caseArb = fc.record({
      nodes: fc.array(
        fc.record({ bps: fc.integer({ min: 1_000, max: 30_000 }), vnodes: fc.integer({ min: 1, max: 3 }) }),
        { minLength: 1, maxLength: 3 },
      ),
      units: fc.bigInt({ min: 1n, max: 20n }),
      networkFeeBps: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000 })),
      managementFeeBps: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })),
      eras: fc.array(fc.record({ seconds: fc.integer({ min: 3_600, max: 2 * 86_400 }), settle: rare(1) }), {
        minLength: 2,
        maxLength: 8,
      }),
    });
    let most = 0;
    let feeRounding = 0n;
    /** How far a node's gap went past one unit per distribution (the fees' rounding can take it there). */
    let beyond = 0n;
    await fc.assert(
      fc.asyncProperty(caseArb, async (k) => {
        const nodes = k.nodes.map((x) => ({ rent: (RENT * BigInt(x.bps)) / BPS, vnodes: x.vnodes }));
        const t = await twins(nodes, k.units, k.networkFeeBps, k.managementFeeBps);
        const fees = [0n, 0n];
        let distributions = 0;
        const distribute = async (c: bigint) => {
          const d = await distributeLast(t, c);
          expect(d.toReserve, "nothing to the reserve").to.equal(0n);
          fees[c === A ? 0 : 1] += d.fees;
          if (c === A) distributions++;
        };
        for (const step of k.eras) {
          await time.increase(step.seconds);
          if (step.settle) await settleTwins(t);
          await distribute(A);
        }
        await time.increase(3_600);
        await settleTwins(t);
        await distribute(A);
        await distribute(B);
        // Both clusters took in the same; A paid it out in `distributions` parts, B in one.
        for (const c of [A, B]) expect((await t.f.ddc.getCluster(c)).revenuePool).to.equal(0n);
        const rounding = fees[1] - fees[0];
        // Each fee rounds down by under a unit a distribution: more, smaller distributions leave the
        // nodes more, by less than one unit per fee per extra distribution.
        const d = BigInt(distributions);
        expect(rounding, "fee rounding is not negative").to.be.at.least(0n);
        expect(rounding, "fee rounding is under a unit a fee an extra distribution").to.be.at.most(2n * (d - 1n));
        const total = t.weights.reduce((s, x) => s + x, 0n);
        const many = await claimTwins(t, 0);
        const one = await claimTwins(t, 1);
        for (const [i, w] of t.weights.entries()) {
          const gap = many[i] - one[i];
          // The node's weight share of the fees' rounding, within one unit either way.
          const off = gap * total - w * rounding;
          expect(
            off < 0n ? -off : off,
            `node ${i}: ${many[i]} in ${distributions} parts, ${one[i]} in one`,
          ).to.be.at.most(total);
          const size = gap < 0n ? -gap : gap;
          expect(size, "at most two units a distribution").to.be.at.most(2n * d - 1n);
          if (rounding === 0n) expect(size, "without fee rounding: within a unit").to.be.at.most(1n);
          if (size - d > beyond) beyond = size - d;
        }
        if (distributions > most) most = distributions;
        if (rounding > feeRounding) feeRounding = rounding;
      }),
      { numRuns: RUNS, seed: SEED },
    );
    if (process.env.FC_STATS !== undefined) console.log({ most, feeRounding, beyond });
    expect(most, "several distributions in a run").to.be.greaterThan(2);
  });

  it("fee rounding: nine pools of 19 units leave one node 16 more than one pool of 171 (5 % and 10 % fees)", async function () {
    // One node of one vNode at 13,680 units per unit-month, one unit: 19 units an hour, exactly.
    const t = await twins([{ rent: 13_680n, vnodes: 1 }], 1n, 500, 1_000);
    for (let k = 1n; k <= 9n; k++) {
      await settleTwins(t, t.start + 3_600n * k);
      // 19 units: network fee floor(0.95) = 0, management fee floor(1.9) = 1, 18 to the node.
      expect(await distributeLast(t, A)).to.deep.equal({ amount: 19n, fees: 1n, toReserve: 0n });
    }
    // 171 units: network fee floor(8.55) = 8, management fee floor(17.1) = 17, 146 to the node.
    expect(await distributeLast(t, B)).to.deep.equal({ amount: 171n, fees: 25n, toReserve: 0n });
    // 9 × 18 = 162 and 146, each less the carried part below a scaled unit (19 does not divide them).
    expect([await claimTwins(t, 0), await claimTwins(t, 1)]).to.deep.equal([[161n], [145n]]);
  });
});
