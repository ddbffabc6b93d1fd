import { keccak_256 } from "@noble/hashes/sha3";

/**
 * Where an object lives: the core's placement rule (`DDCLens.nodesForKey`), computed off chain by
 * nodes and clients alike. Isomorphic: no Node-only API, so the client's browser bundle uses it too.
 */

/** A cluster's ring: vNode tokens ascending, and the node of each (`DDCLens.ring`). */
export interface Ring {
  tokens: bigint[];
  nodes: number[];
}

/**
 * A span of the ring: the tokens `t` with `after < t ≤ upTo`, going clockwise and wrapping past
 * 2^64 − 1 to 0 when `upTo ≤ after`; `after === upTo` is the whole ring.
 */
export interface TokenRange {
  after: bigint;
  upTo: bigint;
}

const utf8 = new TextEncoder();

/** A key's ring position: the top 64 bits of keccak256 of its UTF-8 bytes (`DDCLens.keyToken`). */
export function keyToken(key: string): bigint {
  const digest = keccak_256(utf8.encode(key));
  let token = 0n;
  for (let i = 0; i < 8; i++) token = (token << 8n) | BigInt(digest[i]);
  return token;
}

/** The index of the first vNode at or after `token`, wrapping to 0 past the last one. */
function startIndex(tokens: bigint[], token: bigint): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid] < token) lo = mid + 1;
    else hi = mid;
  }
  return lo === tokens.length ? 0 : lo;
}

/** The distinct nodes met walking the ring from vNode `start`, `want` at most. */
function walk(ring: Ring, start: number, want: number): number[] {
  const holders: number[] = [];
  const n = ring.tokens.length;
  for (let step = 0; step < n && holders.length < want; step++) {
    const candidate = ring.nodes[(start + step) % n];
    if (!holders.includes(candidate)) holders.push(candidate);
  }
  return holders;
}

/**
 * The nodes holding `key`'s replicas, the primary first: the node of the first vNode at or after the
 * key's token (wrapping around), then the next distinct nodes along the ring, `replicationFactor` in
 * all, fewer if the cluster has fewer than that (`distinctNodes`: its members) — exactly
 * `DDCLens.nodesForKey`. `ring` must be sorted ({@link Ring}).
 */
export function replicasFor(ring: Ring, replicationFactor: number, distinctNodes: number, key: string): number[] {
  if (ring.tokens.length !== ring.nodes.length) throw new Error("ring: tokens and nodes differ in length");
  if (ring.tokens.length === 0) return [];
  const want = Math.min(replicationFactor, distinctNodes);
  return walk(ring, startIndex(ring.tokens, keyToken(key)), want);
}

/** {@link replicasFor} from the key's token (a caller placing the same keys often keeps their tokens). */
export function replicasForToken(
  ring: Ring,
  replicationFactor: number,
  distinctNodes: number,
  token: bigint,
): number[] {
  if (ring.tokens.length !== ring.nodes.length) throw new Error("ring: tokens and nodes differ in length");
  if (ring.tokens.length === 0) return [];
  return walk(ring, startIndex(ring.tokens, token), Math.min(replicationFactor, distinctNodes));
}

/** Whether `token` lies in `range`. */
export function inRange(token: bigint, range: TokenRange): boolean {
  if (range.after === range.upTo) return true;
  if (range.after < range.upTo) return token > range.after && token <= range.upTo;
  return token > range.after || token <= range.upTo;
}

/**
 * The token ranges whose keys `node` holds a replica of, with `replicationFactor` replicas per key,
 * adjacent ranges merged (one range `{after: x, upTo: x}` when it holds the whole ring). Keys in
 * `(tokens[i−1], tokens[i]]` all start their walk at vNode `i`, so each such span is held by the
 * same nodes. Empty if the node holds nothing.
 */
export function ownedRanges(ring: Ring, replicationFactor: number, node: number): TokenRange[] {
  const n = ring.tokens.length;
  if (n === 0) return [];
  const want = Math.min(replicationFactor, new Set(ring.nodes).size);
  const held = ring.tokens.map((_t, i) => walk(ring, i, want).includes(node));
  if (held.every((h) => h)) return [{ after: ring.tokens[0], upTo: ring.tokens[0] }];
  const ranges: TokenRange[] = [];
  // Start after a span the node does not hold, so that a run crossing the wrap stays one range.
  const first = held.indexOf(false);
  for (let k = 1; k <= n; k++) {
    const i = (first + k) % n;
    if (!held[i]) continue;
    const after = ring.tokens[(i + n - 1) % n];
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.upTo === after) last.upTo = ring.tokens[i];
    else ranges.push({ after, upTo: ring.tokens[i] });
  }
  return ranges;
}
