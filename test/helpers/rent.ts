import { MONTH, RENT } from "./fixtures";

/** Rent arithmetic of the example network, for expected values in tests. */

/** The example cluster's price: four vNodes at 1 tUSD per unit-month. */
export const EXAMPLE_PRICE = 4n * RENT;
/** The example's grace period: 7 days. */
export const EXAMPLE_GRACE = 7n * 24n * 60n * 60n;

export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** Rent `units` owe at a constant `price` over `seconds`, rounded down. */
export function rent(units: bigint, seconds: bigint, price: bigint = EXAMPLE_PRICE): bigint {
  return (units * price * seconds) / MONTH;
}

/** The balance a ledger keeps for its open buckets: ceil(units × price × grace / MONTH). */
export function runway(units: bigint, price: bigint = EXAMPLE_PRICE, grace: bigint = EXAMPLE_GRACE): bigint {
  return ceilDiv(units * price * grace, MONTH);
}

/** Seconds after a fresh checkpoint (remainder 0) at which `balance` no longer covers the rent. */
export function runOutAfter(balance: bigint, units: bigint, price: bigint = EXAMPLE_PRICE): bigint {
  return ceilDiv((balance + 1n) * MONTH, units * price);
}
