import { createHash } from "node:crypto";
import type { Ring } from "./ports";

/**
 * Placement on a cluster's ring. A key's token is the first 8 bytes of SHA-256 of
 * `<bucket>/<key>` (big-endian); its replicas are the nodes of the first vNodes at or after the
 * token, walking clockwise, distinct nodes only, up to the replication factor.
 */
export function keyToken(bucket: string, key: string): bigint {
  return createHash("sha256").update(`${bucket}/${key}`).digest().readBigUInt64BE(0);
}

function sortedRing(ring: Ring): { token: bigint; node: number }[] {
  return ring.tokens.map((token, i) => ({ token, node: ring.nodes[i] })).sort((a, b) => (a.token < b.token ? -1 : 1));
}

/** The replicas of a token, in ring order (the first is the primary). */
export function replicasForToken(ring: Ring, rf: number, token: bigint): number[] {
  const vnodes = sortedRing(ring);
  if (vnodes.length === 0) return [];
  let start = vnodes.findIndex((v) => v.token >= token);
  if (start < 0) start = 0;
  const out: number[] = [];
  for (let i = 0; i < vnodes.length && out.length < rf; i++) {
    const node = vnodes[(start + i) % vnodes.length].node;
    if (!out.includes(node)) out.push(node);
  }
  return out;
}

export function replicasFor(ring: Ring, rf: number, bucket: string, key: string): number[] {
  return replicasForToken(ring, rf, keyToken(bucket, key));
}

/** A token range `(from, to]`, wrapping when `from >= to`. */
export interface TokenRange {
  from: bigint;
  to: bigint;
}

/**
 * The ring cut at every token of the given rings: within one segment the replica set is the same
 * under each of them. A ring of one token is one segment, the whole ring.
 */
export function segments(...rings: Ring[]): TokenRange[] {
  const tokens = [...new Set(rings.flatMap((r) => r.tokens))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return tokens.map((to, i) => ({ from: tokens[(i + tokens.length - 1) % tokens.length], to }));
}

/** Whether `token` lies in `(from, to]` (wrapping). */
export function inRange(r: TokenRange, token: bigint): boolean {
  if (r.from < r.to) return token > r.from && token <= r.to;
  return token > r.from || token <= r.to;
}

/** The segments of `ring` a node holds a replica of, with the replica set of each. */
export function ownedSegments(ring: Ring, rf: number, node: number): (TokenRange & { replicas: number[] })[] {
  return segments(ring)
    .map((s) => ({ ...s, replicas: replicasForToken(ring, rf, s.to) }))
    .filter((s) => s.replicas.includes(node));
}

/** Majority of `n` replicas. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}
