import type { ManifestEntry } from "../../storage-node/src/bucketManifest";
import { keyToken, replicasForToken, type Ring } from "../../storage-node/src/placement";
import { leafCount } from "../../storage-node/src/store/merkle";
import type { SeededRandom } from "./randomness";
import type { ChallengeFailure, ProbeFailure, UsageCheck } from "./types";

/**
 * The validator's arithmetic, apart from any I/O: how probes, challenges and usage records become
 * a node's result in the report, which objects a node is challenged on, and which stored bytes a
 * bucket is billed for.
 */

/** What one validator gathered about one node during one era. */
export interface NodeObservations {
  node: number;
  url: string;
  probes: { sent: number; ok: number; failures: ProbeFailure[]; latenciesMs: number[] };
  challenges: { sent: number; passed: number; failures: ChallengeFailure[]; retried: number };
  usage: UsageCheck;
}

export interface NodeScore {
  availabilityBps: number;
  latencyMs: number;
  retrievable: boolean;
  score: number;
  reasons: string[];
}

/** The lower median of a non-empty list. */
function lowerMedian(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

/**
 * A node's result for the era:
 * - availability: the share of probes answered correctly and in time, in basis points (0 when
 *   none was sent: a node is never available by default);
 * - latency: the median round trip of the probes that succeeded, whole ms (0 when none did);
 * - retrievable: no challenge failed for good (a timeout counts only when its retry later in the
 *   era failed too); a node with nothing to challenge is retrievable;
 * - score: the availability, or 0 when not retrievable or when its usage record is invalid (its
 *   signed figures contradict its own signed manifest, or the signature fails): a node that lies
 *   about what it stores earns nothing for the era.
 */
export function scoreNode(o: NodeObservations): NodeScore {
  const reasons: string[] = [];
  const availabilityBps = o.probes.sent === 0 ? 0 : Math.floor((o.probes.ok * 10_000) / o.probes.sent);
  const latencyMs = o.probes.latenciesMs.length === 0 ? 0 : Math.round(lowerMedian(o.probes.latenciesMs));
  if (o.probes.sent === 0) reasons.push("no probe was sent this era");
  else if (o.probes.ok < o.probes.sent) {
    const first = o.probes.failures[0];
    reasons.push(
      `${o.probes.sent - o.probes.ok} of ${o.probes.sent} probes failed` +
        (first === undefined ? "" : ` (first: ${first.what})`),
    );
  }
  const counted = o.challenges.failures.filter((f) => f.counted);
  const retrievable = counted.length === 0;
  if (!retrievable) {
    const f = counted[0];
    reasons.push(
      `${counted.length} of ${o.challenges.sent} challenges failed (first: bucket ${f.bucket} key "${f.key}" leaf ${f.leafIndex}: ${f.what})`,
    );
  }
  const usageLie = o.usage.record === "invalid";
  if (usageLie) reasons.push(`usage record invalid: ${o.usage.problems.join("; ")}`);
  const score = retrievable && !usageLie ? availabilityBps : 0;
  return { availabilityBps, latencyMs, retrievable, score, reasons };
}

/** Keys' ring tokens (keccak-256 of each key), kept: the same keys are placed many times an era. */
const tokens = new Map<string, bigint>();
const MAX_TOKENS = 1_000_000;

/** The nodes the ring names for `key` (the storage node's placement, its token kept). */
function replicasOf(placement: Placement, key: string): number[] {
  let token = tokens.get(key);
  if (token === undefined) {
    if (tokens.size >= MAX_TOKENS) tokens.clear();
    token = keyToken(key);
    tokens.set(key, token);
  }
  return replicasForToken(placement.ring, placement.replicationFactor, placement.distinctNodes, token);
}

/** A cluster's placement, as the ring names replicas. */
export interface Placement {
  ring: Ring;
  replicationFactor: number;
  distinctNodes: number;
}

const keyOf = (bucket: bigint, key: string) => `${bucket}/${key}`;
const sameContent = (a: ManifestEntry, b: ManifestEntry) =>
  a.version === b.version && a.sha256 === b.sha256 && a.size === b.size && a.root === b.root;

/** Node → bucket → its manifest entries. */
export type Manifests = Map<number, Map<bigint, ManifestEntry[]>>;

/** The contents listed for one (bucket, key), and which nodes list each. */
interface Votes {
  bucket: bigint;
  variants: { entry: ManifestEntry; nodes: number[] }[];
}

/** Every (bucket, key) the manifests list, with each content listed and by whom. */
function gatherVotes(manifests: Manifests): Map<string, Votes> {
  const votes = new Map<string, Votes>();
  for (const [node, buckets] of manifests) {
    for (const [bucket, entries] of buckets) {
      for (const e of entries) {
        const id = keyOf(bucket, e.key);
        let v = votes.get(id);
        if (v === undefined) votes.set(id, (v = { bucket, variants: [] }));
        const same = v.variants.find((x) => sameContent(x.entry, e));
        if (same !== undefined) same.nodes.push(node);
        else v.variants.push({ entry: e, nodes: [node] });
      }
    }
  }
  return votes;
}

/** The content listed by most of `replicas` (a listing by another node is no vote), the higher version on a tie. */
function mostHeld(variants: Votes["variants"], replicas: number[]): { entry: ManifestEntry; holders: number[] } {
  return variants
    .map((x) => ({ entry: x.entry, holders: x.nodes.filter((n) => replicas.includes(n)) }))
    .sort((a, b) =>
      b.holders.length !== a.holders.length
        ? b.holders.length - a.holders.length
        : a.entry.version > b.entry.version
          ? -1
          : 1,
    )[0];
}

/**
 * The objects a bucket's replicas agree on: for each key, the content listed by more than half
 * of the key's replicas (by the ring) that sent a manifest; the most listed content when they
 * differ (a write in flight), the higher version on a tie. A node's listing of a key the ring
 * does not give it is not a vote. Returns per (bucket, key) the agreed content and who lacks it.
 */
export function agreedObjects(
  placement: Placement,
  manifests: Manifests,
): Map<string, { bucket: bigint; entry: ManifestEntry; holders: number[]; reporters: number[]; confirmed: boolean }> {
  const votes = gatherVotes(manifests);
  const out = new Map<
    string,
    { bucket: bigint; entry: ManifestEntry; holders: number[]; reporters: number[]; confirmed: boolean }
  >();
  for (const [id, v] of votes) {
    const key = v.variants[0].entry.key;
    const replicas = replicasOf(placement, key);
    const reporters = replicas.filter((n) => manifests.get(n)?.has(v.bucket) === true);
    const best = mostHeld(v.variants, replicas);
    out.set(id, {
      bucket: v.bucket,
      entry: best.entry,
      holders: best.holders,
      reporters,
      confirmed: reporters.length > 0 && best.holders.length * 2 > reporters.length,
    });
  }
  return out;
}

/**
 * Measured bytes per bucket from the era-end manifests: the sum of the sizes of the objects a
 * majority of their replicas agree on (each counted once, whatever the replication). A key some
 * replica claims and the others lack is unconfirmed: dropped, and counted against each node that
 * claimed it. `buckets` lists every bucket to report, measured or not.
 */
export function measureUsage(
  placement: Placement,
  manifests: Manifests,
  buckets: bigint[],
): {
  buckets: { bucket: bigint; measuredBytes: bigint; unconfirmedKeys: number }[];
  unconfirmedByNode: Map<number, number>;
} {
  const agreed = agreedObjects(placement, manifests);
  const bytes = new Map<bigint, bigint>(buckets.map((b) => [b, 0n]));
  const dropped = new Map<bigint, number>(buckets.map((b) => [b, 0]));
  const unconfirmedByNode = new Map<number, number>();
  for (const a of agreed.values()) {
    if (!bytes.has(a.bucket)) continue;
    if (a.confirmed) {
      bytes.set(a.bucket, bytes.get(a.bucket)! + BigInt(a.entry.size));
      continue;
    }
    if (a.holders.length === 0) continue; // listed only by nodes the ring does not give the key to
    dropped.set(a.bucket, dropped.get(a.bucket)! + 1);
    for (const n of a.holders) unconfirmedByNode.set(n, (unconfirmedByNode.get(n) ?? 0) + 1);
  }
  return {
    buckets: [...bytes.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((b) => ({ bucket: b, measuredBytes: bytes.get(b)!, unconfirmedKeys: dropped.get(b)! })),
    unconfirmedByNode,
  };
}

/** An object a node is challenged on: from its own manifest, or one its replicas agree it should hold. */
export interface Candidate {
  bucket: bigint;
  entry: ManifestEntry;
  /** Listed by the node itself (otherwise only by its replicas: it should hold it). */
  own: boolean;
}

/**
 * The objects node `node` answers for: everything its own manifest lists, and (unless it joined
 * the cluster during this era and may still be copying its ranges) every key its replicas agree
 * it should hold and it does not list. A node cannot escape challenges by dropping rows.
 */
export function challengeCandidates(
  node: number,
  placement: Placement,
  manifests: Manifests,
  judgeMissing: boolean,
): Candidate[] {
  const out: Candidate[] = [];
  const own = manifests.get(node) ?? new Map<bigint, ManifestEntry[]>();
  const listed = new Set<string>();
  for (const [bucket, entries] of own) {
    for (const e of entries) {
      out.push({ bucket, entry: e, own: true });
      listed.add(keyOf(bucket, e.key));
    }
  }
  if (!judgeMissing) return out;
  const others: Manifests = new Map([...manifests].filter(([n]) => n !== node));
  for (const [id, a] of agreedObjects(placement, others)) {
    if (listed.has(id) || !a.confirmed) continue;
    const replicas = replicasOf(placement, a.entry.key);
    if (replicas.includes(node)) out.push({ bucket: a.bucket, entry: a.entry, own: false });
  }
  return out;
}

/**
 * {@link challengeCandidates} with `judgeMissing` for each of `nodes` at once, the same candidates
 * in the same order, in one pass over the manifests: each key's votes gathered and its replicas
 * placed once, then judged for each replica that does not list it (without that replica as a
 * reporter, as the per-node call leaves its own manifest out). The per-node call recomputes the
 * agreement of all the others' manifests, O(nodes × objects) each time: a cluster of 64 nodes of
 * 1,000 objects took seconds per node, blocking the validator's probes and challenges.
 */
export function challengeCandidatesByNode(
  nodes: readonly number[],
  placement: Placement,
  manifests: Manifests,
): Map<number, Candidate[]> {
  const out = new Map<number, Candidate[]>(nodes.map((n) => [n, []]));
  for (const n of nodes) {
    const list = out.get(n)!;
    for (const [bucket, entries] of manifests.get(n) ?? new Map<bigint, ManifestEntry[]>()) {
      for (const e of entries) list.push({ bucket, entry: e, own: true });
    }
  }
  const votes = gatherVotes(manifests);
  for (const v of votes.values()) {
    const key = v.variants[0].entry.key;
    const replicas = replicasOf(placement, key);
    for (const node of replicas) {
      const list = out.get(node);
      // Listed by the node itself (whatever the content): among its own candidates already.
      if (list === undefined || v.variants.some((x) => x.nodes.includes(node))) continue;
      // The agreement of the others, as agreedObjects over the manifests without this node's.
      const reporters = replicas.filter((n) => n !== node && manifests.get(n)?.has(v.bucket) === true);
      const best = mostHeld(v.variants, replicas);
      if (reporters.length > 0 && best.holders.length * 2 > reporters.length) {
        list.push({ bucket: v.bucket, entry: best.entry, own: false });
      }
    }
  }
  return out;
}

/**
 * `count` leaves drawn uniformly over all the candidates' leaves (with replacement: each draw is
 * an independent sample, so a node that lost a fraction f of its leaves passes one with
 * probability 1 − f), from the seeded stream.
 */
export function pickLeaves(
  candidates: Candidate[],
  count: number,
  random: SeededRandom,
): { candidate: Candidate; leafIndex: number }[] {
  if (candidates.length === 0) return [];
  const ordered = [...candidates].sort((a, b) =>
    a.bucket !== b.bucket
      ? a.bucket < b.bucket
        ? -1
        : 1
      : Buffer.compare(Buffer.from(a.entry.key), Buffer.from(b.entry.key)),
  );
  const ends: number[] = [];
  let total = 0;
  for (const c of ordered) {
    total += Math.max(1, leafCount(c.entry.size));
    ends.push(total);
  }
  const picks: { candidate: Candidate; leafIndex: number }[] = [];
  for (let i = 0; i < count; i++) {
    const r = random.below(total);
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    const before = lo === 0 ? 0 : ends[lo - 1];
    picks.push({ candidate: ordered[lo], leafIndex: r - before });
  }
  return picks;
}
