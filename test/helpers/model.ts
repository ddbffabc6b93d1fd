/**
 * A reference model of the core's money rules, written from the documented semantics (not from the
 * contract's code), and small helpers shared by the invariant and attack specs.
 *
 * Price: a cluster's index is `I(t) = ∫ P dt` (P per unit per month). Each member is charged its
 * accepted rent, except that an increase (a new node, a higher rent) waits `max(priceNotice,
 * unlockDelay)` while the cluster has an open bucket that can be billed (cap > 0, whatever it is
 * billed for now: a pay-per-use bucket with nothing measured counts): meanwhile the member is
 * charged what it was charged before. Decreases apply at once. With an increase already announced,
 * the announced time is kept for a new target at or below it, and is never moved earlier; when
 * nothing is left to wait for, every member is charged its accepted rent.
 *
 * Ledger: with `S(t) = Σ units × ΔI` over the ledger's unit periods, a settlement at `t` charges
 * `floor(S(t) / MONTH)` in total (remainders carried), pays `min(charged − paid, balance)` and the
 * rest is debt. A deposit into a ledger with debt settles it at once (the deposit repays the debt).
 * The runway a ledger keeps is on its `capUnits` (Σ cap of its open buckets), not on what they are
 * billed for.
 */
import { expect } from "chai";
import type { ContractTransactionReceipt, Interface, Result } from "ethers";

export const MONTH = 30n * 24n * 60n * 60n;

export interface Checkpoint {
  time: bigint;
  index: bigint;
  price: bigint;
}

export interface Pending {
  price: bigint;
  at: bigint;
}

/** The last checkpoint in force at `t` (the latest of several at the same time). */
function checkpointAt(cps: readonly Checkpoint[], t: bigint): Checkpoint {
  for (let i = cps.length - 1; i >= 0; i--) {
    if (cps[i].time <= t) return cps[i];
  }
  throw new Error(`no price checkpoint at or before ${t}`);
}

/**
 * The index at `t` from a list of checkpoints and an increase announced after the last one (which
 * is part of the price function before anyone writes it down).
 */
export function indexAt(cps: readonly Checkpoint[], pending: Pending | null, t: bigint): bigint {
  const cp = checkpointAt(cps, t);
  if (pending !== null && pending.at > cp.time && pending.at < t) {
    return cp.index + cp.price * (pending.at - cp.time) + pending.price * (t - pending.at);
  }
  return cp.index + cp.price * (t - cp.time);
}

/** The price in force at `t`. */
export function priceAt(cps: readonly Checkpoint[], pending: Pending | null, t: bigint): bigint {
  const cp = checkpointAt(cps, t);
  if (pending !== null && pending.at > cp.time && t >= pending.at) return pending.price;
  return cp.price;
}

/** `units × price × grace / MONTH`, rounded up: the balance kept for the caps of open buckets. */
export function runway(units: bigint, price: bigint, grace: bigint): bigint {
  const scaled = units * price * grace;
  return scaled === 0n ? 0n : (scaled - 1n) / MONTH + 1n;
}

/** A cluster's price as the documented rules move it. */
export class PriceModel {
  constructor(
    public cps: Checkpoint[],
    public pending: Pending | null,
  ) {}

  clone(): PriceModel {
    return new PriceModel(
      this.cps.map((c) => ({ ...c })),
      this.pending === null ? null : { ...this.pending },
    );
  }

  /** The price written down (in force since the last checkpoint). */
  get stored(): bigint {
    return this.cps[this.cps.length - 1].price;
  }

  /** Where the price is heading: the announced increase if any, else the current price. */
  get target(): bigint {
    return this.pending === null ? this.stored : this.pending.price;
  }

  indexAt(t: bigint): bigint {
    return indexAt(this.cps, this.pending, t);
  }

  priceAt(t: bigint): bigint {
    return priceAt(this.cps, this.pending, t);
  }

  /** Writes down an announced increase that is due at `now`; true if one was. */
  applyDue(now: bigint): boolean {
    if (this.pending === null || now < this.pending.at) return false;
    const at = this.pending.at;
    this.cps.push({ time: at, index: this.indexAt(at), price: this.pending.price });
    this.pending = null;
    return true;
  }

  /**
   * A price-moving transaction at `now` (call {applyDue} first): `inForce` is what the members are
   * charged now (decreases apply at once), `target` what they will be charged. Everything applies
   * at once if no open bucket can be billed (`billable` is their number) or nothing is left to wait
   * for; otherwise the increase is announced. Returns the announced time, or null if everything is
   * in force.
   */
  move(now: bigint, inForce: bigint, target: bigint, billable: number, notice: bigint): bigint | null {
    this.applyDue(now);
    const current = billable === 0 || target <= inForce ? target : inForce;
    if (current !== this.stored) this.cps.push({ time: now, index: this.indexAt(now), price: current });
    if (target === current) {
      this.pending = null;
      return null;
    }
    // What was announced keeps its time: never earlier, and no later for no more.
    let at = now + notice;
    if (this.pending !== null && (target <= this.pending.price || at < this.pending.at)) at = this.pending.at;
    this.pending = { price: target, at };
    return at;
  }
}

export interface UnitPeriod {
  time: bigint;
  units: bigint;
}

/** `Σ units × ΔI` over a ledger's unit periods, up to `t`, for an index function. */
export function scaledCharge(periods: readonly UnitPeriod[], index: (t: bigint) => bigint, t: bigint): bigint {
  let total = 0n;
  for (let i = 0; i < periods.length; i++) {
    const start = periods[i].time;
    if (start >= t) break;
    const end = i + 1 < periods.length && periods[i + 1].time < t ? periods[i + 1].time : t;
    total += periods[i].units * (index(end) - index(start));
  }
  return total;
}

/** One ledger (owner, cluster) as the documented rules see it. */
export class LedgerModel {
  balance = 0n;
  /** Everything paid into the revenue pool so far. */
  paid = 0n;
  /** Debt after the last settlement. */
  debt = 0n;
  /** What the owner's open buckets in the cluster are billed for (Σ billed). */
  units = 0n;
  /** What they can be billed for (Σ cap): the runway is kept on these. */
  capUnits = 0n;
  periods: UnitPeriod[] = [];
  unlockAmount = 0n;
  unlockAt = 0n;
  lastSettled: bigint | null = null;
  unitChanges = 0;
  /** When the balance ran out, for the debt outstanding since (0 while there is none). */
  arrearsSince = 0n;

  constructor(
    public readonly owner: string,
    public readonly cluster: bigint,
  ) {}

  clone(): LedgerModel {
    const c = new LedgerModel(this.owner, this.cluster);
    Object.assign(c, this);
    c.periods = this.periods.map((p) => ({ ...p }));
    return c;
  }

  /** Total charged by a settlement at `t`. */
  chargedAt(index: (t: bigint) => bigint, t: bigint): bigint {
    return scaledCharge(this.periods, index, t) / MONTH;
  }

  /** Settles at `t`: returns what is paid and the debt after. */
  settle(index: (t: bigint) => bigint, t: bigint): { paid: bigint; debt: bigint } {
    const obligation = this.chargedAt(index, t) - this.paid;
    const paid = obligation < this.balance ? obligation : this.balance;
    if (obligation > this.balance && this.debt === 0n) {
      // The debt starts when the charges first passed what was there.
      this.arrearsSince = this.runsOutAfter(index, this.lastSettled ?? 0n, t)!;
    } else if (obligation <= this.balance) {
      this.arrearsSince = 0n;
    }
    this.balance -= paid;
    this.paid += paid;
    this.debt = obligation - paid;
    this.lastSettled = t;
    return { paid, debt: this.debt };
  }

  /**
   * The first second in `(from, to]` at which the total charge passes what was paid plus the
   * balance (null if it does not by `to`).
   */
  runsOutAfter(index: (t: bigint) => bigint, from: bigint, to: bigint): bigint | null {
    const limit = this.paid + this.balance;
    if (this.chargedAt(index, to) <= limit) return null;
    let lo = from; // charge at lo <= limit (or lo is before the first period)
    let hi = to; // charge at hi > limit
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (this.chargedAt(index, mid) > limit) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  setUnits(t: bigint, units: bigint): void {
    if (units === this.units) return;
    this.units = units;
    this.unitChanges++;
    const last = this.periods[this.periods.length - 1];
    if (last !== undefined && last.time === t) last.units = units;
    else this.periods.push({ time: t, units });
  }
}

// ─────────────────────────────────────────── reverts ────────────────────────────────────────────

const PANIC = "0x4e487b71";
const ERROR_STRING = "0x08c379a0";

/**
 * The name of the custom error a call reverted with, decoded with the given interfaces; throws
 * (failing the test) on a panic, a string reason, or anything it cannot decode.
 */
export function revertOf(e: unknown, interfaces: readonly Interface[]): { name: string; args: Result } {
  const data = (e as { data?: unknown }).data;
  const message = (e as { message?: unknown }).message;
  if (typeof data !== "string" || data.length < 10) {
    throw new Error(`not a decodable revert: ${String(message ?? e)}`);
  }
  const selector = data.slice(0, 10).toLowerCase();
  if (selector === PANIC) throw new Error(`panic: ${String(message)}`);
  if (selector === ERROR_STRING) throw new Error(`revert with a string: ${String(message)}`);
  for (const iface of interfaces) {
    const parsed = iface.parseError(data);
    if (parsed !== null) return { name: parsed.name, args: parsed.args };
  }
  throw new Error(`unknown revert ${data}: ${String(message)}`);
}

// ─────────────────────────────────────────── events ─────────────────────────────────────────────

export interface Settled {
  owner: string;
  cluster: bigint;
  paid: bigint;
  debt: bigint;
  /** Set for an entry of a batch. */
  bucket?: bigint;
}

/** Decodes the packed record of `PaymentsSettled`: 36 bytes a bucket (id 8, paid 14, debt 14). */
export function decodeRecord(record: string): { bucket: bigint; paid: bigint; debt: bigint }[] {
  const hex = record.startsWith("0x") ? record.slice(2) : record;
  expect(hex.length % 72, "record length is a multiple of 36 bytes").to.equal(0);
  const out = [];
  for (let at = 0; at < hex.length; at += 72) {
    out.push({
      bucket: BigInt("0x" + hex.slice(at, at + 16)),
      paid: BigInt("0x" + hex.slice(at + 16, at + 44)),
      debt: BigInt("0x" + hex.slice(at + 44, at + 72)),
    });
  }
  return out;
}

/**
 * The settlements a transaction made, in order, from `LedgerSettled` and `PaymentsSettled`
 * (batch entries are mapped to their owner with `ownerOf`). Checks each batch's total.
 */
export function settlementsOf(
  receipt: ContractTransactionReceipt,
  core: { address: string; iface: Interface },
  ownerOf: (bucket: bigint) => string,
): Settled[] {
  const out: Settled[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== core.address.toLowerCase()) continue;
    const parsed = core.iface.parseLog(log);
    if (parsed === null) continue;
    if (parsed.name === "LedgerSettled") {
      out.push({
        owner: parsed.args.owner as string,
        cluster: parsed.args.cluster as bigint,
        paid: parsed.args.paid as bigint,
        debt: parsed.args.debt as bigint,
      });
    } else if (parsed.name === "PaymentsSettled") {
      const cluster = parsed.args.cluster as bigint;
      const entries = decodeRecord(parsed.args.record as string);
      const sum = entries.reduce((s, e) => s + e.paid, 0n);
      expect(parsed.args.total, "PaymentsSettled total is the sum of its record").to.equal(sum);
      for (const e of entries) {
        out.push({ owner: ownerOf(e.bucket), cluster, paid: e.paid, debt: e.debt, bucket: e.bucket });
      }
    }
  }
  return out;
}
