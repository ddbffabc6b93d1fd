import { replicasFor, keyToken, type Ring, type TokenRange } from "../placement";

const U64 = 1n << 64n;

/** A majority of `n` replicas. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The replicas of a token (the walk from the first vNode at or after it), as placement does for a key. */
export function replicasForToken(
  ring: Ring,
  replicationFactor: number,
  distinctNodes: number,
  token: bigint,
): number[] {
  const n = ring.tokens.length;
  if (n === 0) return [];
  let start = ring.tokens.findIndex((t) => t >= token);
  if (start < 0) start = 0;
  const want = Math.min(replicationFactor, distinctNodes);
  const out: number[] = [];
  for (let step = 0; step < n && out.length < want; step++) {
    const node = ring.nodes[(start + step) % n];
    if (!out.includes(node)) out.push(node);
  }
  return out;
}

/** The replicas of `key` under a cluster's ring. */
export function keyReplicas(c: { ring: Ring; replicationFactor: number; nodes: number[] }, key: string): number[] {
  return replicasFor(c.ring, c.replicationFactor, c.nodes.length, key);
}

export { keyToken };

/**
 * The ring cut at every token of the given rings: within one segment `(after, upTo]` the replica
 * set is the same under each of them (keys in it start their walk at the same vNode of each ring).
 */
export function segments(...rings: Ring[]): TokenRange[] {
  const tokens = [...new Set(rings.flatMap((r) => r.tokens))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return tokens.map((upTo, i) => ({ after: tokens[(i + tokens.length - 1) % tokens.length], upTo }));
}

/** A segment's replica set under a cluster's ring (its upper end stands for all its tokens). */
export function segmentReplicas(
  c: { ring: Ring; replicationFactor: number; nodes: number[] },
  s: TokenRange,
): number[] {
  return replicasForToken(c.ring, c.replicationFactor, c.nodes.length, s.upTo);
}

/**
 * A placement range `(after, upTo]` as the metadata store's `[from, to)` (both wrap past 2^64 − 1;
 * equal ends are the whole ring in both).
 */
export function storeRange(r: TokenRange): { from: bigint; to: bigint } {
  return { from: (r.after + 1n) % U64, to: (r.upTo + 1n) % U64 };
}
