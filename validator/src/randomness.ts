import { AbiCoder, concat, getAddress, keccak256, toBeHex, type Provider } from "ethers";

/**
 * The randomness of a validator's challenges. A node must not know in advance which leaves it will
 * be asked for, or it could keep just those. So the seed of node N's challenges by validator V in
 * era E of cluster C is
 *
 *   keccak256(abi.encode(bytes32 blockHash, address V, uint32 N, uint32 C, uint32 E))
 *
 * where blockHash is the hash of the era's first block (the first block whose timestamp is at or
 * after the era's start): unknown to anyone before the era began, and each validator's and node's
 * seed differs, so three validators' challenges are independent samples that add up. Anyone can
 * recompute a seed afterwards and check that a validator chose as it says.
 */
export function challengeSeed(
  blockHash: string,
  validator: string,
  node: number,
  cluster: number,
  era: number,
): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "address", "uint32", "uint32", "uint32"],
      [blockHash, getAddress(validator), node, cluster, era],
    ),
  );
}

/** A stream of numbers from a seed: keccak256(seed ‖ counter), counter 0, 1, 2… (reproducible). */
export class SeededRandom {
  private counter = 0n;

  constructor(readonly seed: string) {}

  /** The next 256 bits. */
  next(): bigint {
    const word = BigInt(keccak256(concat([this.seed, toBeHex(this.counter, 32)])));
    this.counter++;
    return word;
  }

  /** An integer in [0, n): the 256-bit word mod n (the bias, below 2^-200 for n < 2^53, is nothing). */
  below(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`below(${n}): a positive whole number`);
    return Number(this.next() % BigInt(n));
  }

  /** A number in [0, 1) with 53 random bits. */
  fraction(): number {
    return Number(this.next() >> 203n) / 2 ** 53;
  }
}

/**
 * The first block whose timestamp is at or after `timestamp` (Unix seconds), or undefined when the
 * chain has not reached it yet. A binary search over block numbers from `from` (a block known to
 * be before it, 0 unless given): about log2(height) reads.
 */
export async function firstBlockAtOrAfter(
  provider: Provider,
  timestamp: number,
  from = 0,
): Promise<{ number: number; hash: string; timestamp: number } | undefined> {
  const latest = await provider.getBlock("latest");
  if (latest === null || latest.timestamp < timestamp) return undefined;
  let lo = from;
  let hi = latest.number;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const b = await provider.getBlock(mid);
    if (b === null) throw new Error(`block ${mid} is missing from the RPC node`);
    if (b.timestamp < timestamp) lo = mid + 1;
    else hi = mid;
  }
  const block = lo === latest.number ? latest : await provider.getBlock(lo);
  if (block === null || block.hash === null) throw new Error(`block ${lo} is missing from the RPC node`);
  return { number: block.number, hash: block.hash, timestamp: block.timestamp };
}

/**
 * The probability that `validators` validators of `challenges` leaves each, chosen independently
 * and uniformly, all miss a node's lost data when it lost a fraction `lost` of its leaves:
 * (1 − lost)^(validators × challenges).
 */
export function missProbability(lost: number, challenges: number, validators: number): number {
  return (1 - lost) ** (challenges * validators);
}
