import { randomInt } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { Provider } from "ethers";
import { wallSleep } from "../../lib/chainClock";
import type { Logger } from "pino";
import type { ManifestEntry } from "../../storage-node/src/bucketManifest";
import type { ChainView } from "../../storage-node/src/chain";
import type { ValidatorConfig } from "./config";
import type { ValidatorMetrics } from "./metrics";
import {
  NodeCallError,
  challenge,
  fetchManifest,
  fetchUsage,
  probe,
  type NodeTarget,
  type NodeUsage,
  type ValidatorSessions,
} from "./nodeApi";
import { SeededRandom, challengeSeed, firstBlockAtOrAfter } from "./randomness";
import {
  agreedObjects,
  challengeCandidates,
  challengeCandidatesByNode,
  measureUsage,
  type Candidate,
  pickLeaves,
  scoreNode,
  type Manifests,
  type NodeObservations,
  type Placement,
} from "./score";
import type { NodeDetail } from "./types";

/** Wall-clock time and waiting, injectable for tests. */
export interface Clock {
  /** ms since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: wallSleep };

/** Everything one era's measurement needs. */
export interface EraContext {
  cluster: number;
  era: number;
  /** Unix seconds, the core's era bounds. */
  start: number;
  end: number;
  validator: string;
  view: ChainView;
  provider: Provider;
  sessions: ValidatorSessions;
  config: Pick<ValidatorConfig, "probes" | "challenges">;
  clock: Clock;
  logger: Logger;
  metrics?: ValidatorMetrics;
  signal: AbortSignal;
  /**
   * Called with the round trip (ms) of each challenge that passed: the exact samples, where the
   * metrics' histogram keeps only coarse buckets (the validator bench reads its percentiles here).
   */
  onChallenge?: (ms: number) => void;
}

/** What an era's measurement produced: the per-node results and the buckets' measured bytes. */
export interface EraMeasurement {
  cluster: number;
  era: number;
  nodes: NodeDetail[];
  buckets: { bucket: bigint; measuredBytes: bigint; unconfirmedKeys: number }[];
}

/** The share of an era challenges are sent in: the rest leaves room for the retry of a timeout. */
const CHALLENGE_SPAN = 0.7;
/** No probe or challenge in the era's last part: each must be over before the era ends. */
const END_MARGIN_MS = 1_000;
/** One probe answer in this many has its signature checked (besides each node's first). */
const PROBE_SIGNATURE_SAMPLE = 4;
/** How often the cluster's members are read again during an era. */
const MEMBERS_EVERY_MS = 5_000;

interface Member {
  target: NodeTarget;
  obs: NodeObservations;
  /** Joined after the era's measurement began: not judged on objects it may still be copying. */
  late: boolean;
}

/**
 * Measures every member of a cluster through one era, then returns their results and the
 * buckets' measured bytes. Probes go at random times through the era; challenges once the era's
 * first block (the seed) exists, on leaves drawn from the seed over the objects the node lists
 * and those its replicas agree it holds; after the era ends, usage records and the era-end
 * manifests are fetched, checked against each other and across replicas.
 */
export async function measureEra(ctx: EraContext): Promise<EraMeasurement> {
  const { clock, logger } = ctx;
  // Every scheduled probe and challenge waits on the signal.
  setMaxListeners(Infinity, ctx.signal);
  const log = logger.child({ cluster: ctx.cluster, era: ctx.era });
  const startMs = ctx.start * 1000;
  const endMs = ctx.end * 1000;
  const lastMs = endMs - END_MARGIN_MS;
  const members = new Map<number, Member>();
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const at = (ms: number, task: () => Promise<void>) =>
    track(
      (async () => {
        await clock.sleep(ms - clock.now(), ctx.signal);
        if (ctx.signal.aborted) return;
        await task();
      })(),
    );

  const sendProbe = async (m: Member) => {
    m.obs.probes.sent++;
    const sentAt = clock.now();
    try {
      // The first probe's signature of each node is checked, then one in four at random.
      const verify = m.obs.probes.sent === 1 || randomInt(0, PROBE_SIGNATURE_SAMPLE) === 0;
      const r = await probe(m.target, ctx.sessions, ctx.cluster, ctx.config.probes.timeoutMs, verify);
      m.obs.probes.ok++;
      m.obs.probes.latenciesMs.push(r.ms);
      ctx.metrics?.probes.inc({ outcome: "ok" });
    } catch (error) {
      const what = (error as Error).message;
      m.obs.probes.failures.push({ at: sentAt, what });
      ctx.metrics?.probes.inc({ outcome: "failed" });
      log.debug({ node: m.target.id, what }, "probe failed");
    }
  };

  const schedule = (m: Member, fromMs: number) => {
    const span = Math.max(0, lastMs - fromMs);
    const share = span / Math.max(1, lastMs - startMs);
    // Every member gets its probes however late the measurement began; one that joined during
    // the era gets its share of the rest, at least three.
    const count = m.late ? Math.max(3, Math.ceil(ctx.config.probes.perEra * share)) : ctx.config.probes.perEra;
    for (let i = 0; i < count; i++) at(fromMs + randomInt(0, Math.max(1, span)), () => sendProbe(m));
  };

  const addMembers = async (late: boolean) => {
    const info = await ctx.view.cluster(ctx.cluster);
    if (info === undefined) throw new Error(`cluster ${ctx.cluster} is unknown to the core`);
    for (const id of info.nodes) {
      if (members.has(id)) continue;
      const n = await ctx.view.node(id);
      if (n === undefined || n.urls.length === 0) continue;
      const target = { id, url: n.urls[0], signingKey: n.signingKey };
      const m: Member = {
        target,
        late,
        obs: {
          node: id,
          url: n.urls[0],
          probes: { sent: 0, ok: 0, failures: [], latenciesMs: [] },
          challenges: { sent: 0, passed: 0, failures: [], retried: 0 },
          usage: { record: "missing", problems: [], unconfirmedKeys: 0 },
        },
      };
      members.set(id, m);
      schedule(m, Math.max(clock.now(), startMs));
      if (late) {
        log.info({ node: id }, "a node joined the cluster during the era: measured from now");
        at(clock.now() + 1_000, () => challenges(m, true));
      }
    }
    return info;
  };

  // The seed and the current manifests, read once per era for all members.
  let placement: Placement | undefined;
  let seedHash: string | undefined;
  const currentManifests: Manifests = new Map();

  const readManifests = async (m: Member) => {
    const era = ctx.era;
    const usage = await fetchUsage(m.target, ctx.sessions, ctx.cluster, era, ctx.config.challenges.timeoutMs);
    const buckets = new Map<bigint, ManifestEntry[]>();
    for (const b of usage.buckets) {
      const manifest = await fetchManifest(
        m.target,
        ctx.sessions,
        ctx.cluster,
        era,
        b.bucket,
        ctx.config.challenges.timeoutMs,
      );
      buckets.set(b.bucket, manifest.entries);
    }
    currentManifests.set(m.target.id, buckets);
  };

  /** `candidates`: computed for every member at once at the era's set-up (else for this one alone). */
  const challenges = async (m: Member, ownOnly: boolean, candidates?: Candidate[]) => {
    if (seedHash === undefined || placement === undefined) return;
    if (ownOnly) {
      try {
        await readManifests(m);
      } catch (error) {
        log.warn({ node: m.target.id, what: (error as Error).message }, "no manifest from a node that joined");
      }
    }
    candidates ??= challengeCandidates(m.target.id, placement, currentManifests, !ownOnly && !m.late);
    const seed = challengeSeed(seedHash, ctx.validator, m.target.id, ctx.cluster, ctx.era);
    const picks = pickLeaves(candidates, ctx.config.challenges.perNode, new SeededRandom(seed));
    const from = clock.now();
    const until = Math.max(from, startMs + CHALLENGE_SPAN * (endMs - startMs));
    for (const pick of picks) {
      const spec = { bucket: pick.candidate.bucket, entry: pick.candidate.entry, leafIndex: pick.leafIndex, seed };
      const attempt = async (retry: boolean) => {
        if (!retry) m.obs.challenges.sent++;
        const sentAt = clock.now();
        try {
          const r = await challenge(m.target, ctx.sessions, ctx.cluster, spec, ctx.config.challenges.timeoutMs);
          m.obs.challenges.passed++;
          ctx.metrics?.challenges.inc({ outcome: "passed" });
          ctx.metrics?.challengeSeconds.observe(r.ms / 1000);
          ctx.onChallenge?.(r.ms);
        } catch (error) {
          const e = error as Error;
          const transient = e instanceof NodeCallError && e.transient;
          // The retry goes at a random time between a second from now and the era's last moment.
          const room = lastMs - clock.now() - 1_000;
          const again = transient && !retry && room > 0;
          const what = pick.candidate.own ? e.message : `${e.message} (its replicas list it; the node does not)`;
          const changed = e instanceof NodeCallError && e.mayHaveChanged;
          m.obs.challenges.failures.push({
            at: sentAt,
            bucket: spec.bucket.toString(),
            key: spec.entry.key,
            leafIndex: spec.leafIndex,
            what,
            counted: !again,
            ...(changed ? { version: spec.entry.version.toString() } : {}),
          });
          ctx.metrics?.challenges.inc({ outcome: again ? "retry" : "failed" });
          if (again) {
            m.obs.challenges.retried++;
            at(clock.now() + 1_000 + randomInt(0, Math.max(1, room)), () => attempt(true));
          } else {
            log.warn(
              { node: m.target.id, bucket: spec.bucket.toString(), key: spec.entry.key, leaf: spec.leafIndex, what },
              "challenge failed",
            );
          }
        }
      };
      at(from + randomInt(0, Math.max(1, until - from)), () => attempt(false));
    }
  };

  const setUpChallenges = async () => {
    // The era's first block: its hash is the seed's randomness (waits until it exists).
    while (!ctx.signal.aborted && clock.now() < lastMs) {
      const block = await firstBlockAtOrAfter(ctx.provider, ctx.start).catch(() => undefined);
      if (block !== undefined) {
        seedHash = block.hash;
        break;
      }
      await clock.sleep(1_000, ctx.signal);
    }
    if (seedHash === undefined) {
      log.warn("no block of the era appeared in time: no challenges this era");
      return;
    }
    const info = await ctx.view.cluster(ctx.cluster);
    if (info === undefined) return;
    placement = { ring: info.ring, replicationFactor: info.replicationFactor, distinctNodes: info.nodes.length };
    const unreadable = new Set<number>();
    await Promise.all(
      [...members.values()].map(async (m) => {
        try {
          await readManifests(m);
        } catch (error) {
          unreadable.add(m.target.id);
          log.info({ node: m.target.id, what: (error as Error).message }, "no current manifest");
        }
      }),
    );
    // Every member's candidates in one pass over the manifests (a member that joined late: its own only).
    const judged = [...members.values()].filter((m) => !m.late).map((m) => m.target.id);
    const byNode = challengeCandidatesByNode(judged, placement, currentManifests);
    for (const m of members.values()) {
      // A node whose manifest could not be read is challenged on what its replicas hold.
      await challenges(m, false, byNode.get(m.target.id));
    }
  };

  await addMembers(false);
  // A member list read again now and then: a node that joins mid-era is measured from then on.
  const watch = (async () => {
    while (!ctx.signal.aborted && clock.now() < lastMs) {
      await clock.sleep(MEMBERS_EVERY_MS, ctx.signal);
      await addMembers(true).catch((error: unknown) =>
        log.warn({ what: (error as Error).message }, "members not read"),
      );
    }
  })();
  at(Math.max(clock.now(), startMs + 0.05 * (endMs - startMs)), () =>
    setUpChallenges().catch((error: unknown) => log.error({ what: (error as Error).message }, "challenges not set up")),
  );

  // The era ends; everything scheduled in it finishes (each has its timeout).
  await clock.sleep(endMs - clock.now(), ctx.signal);
  await watch;
  while (pending.size > 0) await Promise.all([...pending]);
  if (ctx.signal.aborted) throw new Error("stopped");

  // Who is a member now (the bot scores the members at the era's end).
  const final = await ctx.view.cluster(ctx.cluster);
  if (final === undefined) throw new Error(`cluster ${ctx.cluster} is unknown to the core`);
  await addMembers(true).catch(() => undefined);
  const finalPlacement: Placement = {
    ring: final.ring,
    replicationFactor: final.replicationFactor,
    distinctNodes: final.nodes.length,
  };

  // Usage: each member's signed record of the era and its era-end manifests, checked together.
  const eraEnd = new Map<number, Map<bigint, ManifestEntry[]>>();
  const records = new Map<number, NodeUsage>();
  await Promise.all(
    final.nodes.map(async (id) => {
      const m = members.get(id);
      if (m === undefined) return;
      const usage = await usageWithRetry(ctx, m);
      if (usage === undefined) return;
      records.set(id, usage);
      const buckets = new Map<bigint, ManifestEntry[]>();
      let unreachable = false;
      for (const b of usage.buckets) {
        try {
          const manifest = await fetchManifest(
            m.target,
            ctx.sessions,
            ctx.cluster,
            ctx.era,
            b.bucket,
            ctx.config.challenges.timeoutMs,
          );
          const sum = manifest.entries.reduce((s, e) => s + BigInt(e.size), 0n);
          if (manifest.root !== b.manifestRoot || manifest.entries.length !== b.objects) {
            m.obs.usage.problems.push(
              `bucket ${b.bucket}: the usage record signs ${b.objects} objects with root ${b.manifestRoot}, the era's manifest holds ${manifest.entries.length} with root ${manifest.root}`,
            );
          } else if (sum !== b.storedBytes) {
            m.obs.usage.problems.push(
              `bucket ${b.bucket}: the usage record claims ${b.storedBytes} bytes stored, its manifest of the era sums ${sum}`,
            );
          }
          buckets.set(b.bucket, manifest.entries);
        } catch (error) {
          const e = error as Error;
          if (e instanceof NodeCallError && e.transient) unreachable = true;
          m.obs.usage.problems.push(`bucket ${b.bucket}: ${e.message}`);
        }
      }
      // A manifest that could not be fetched proves nothing either way; one that contradicts the
      // record, or is not signed by the node, is a lie.
      m.obs.usage.record = m.obs.usage.problems.length === 0 ? "ok" : unreachable ? "missing" : "invalid";
      if (m.obs.usage.record === "ok") eraEnd.set(id, buckets);
    }),
  );
  const allBuckets = new Set<bigint>();
  for (const [id, usage] of records) if (eraEnd.has(id)) for (const b of usage.buckets) allBuckets.add(b.bucket);
  const measured = measureUsage(finalPlacement, eraEnd, [...allBuckets]);
  settleChangedObjects(members, finalPlacement, eraEnd, log);
  for (const [node, count] of measured.unconfirmedByNode) {
    const m = members.get(node);
    if (m === undefined) continue;
    m.obs.usage.unconfirmedKeys = count;
    log.warn({ node, keys: count }, "keys this node claims that its replicas lack: not counted");
  }

  const nodes: NodeDetail[] = [...final.nodes]
    .sort((a, b) => a - b)
    .map((id) => {
      const m = members.get(id);
      const obs: NodeObservations = m?.obs ?? {
        node: id,
        url: "",
        probes: { sent: 0, ok: 0, failures: [], latenciesMs: [] },
        challenges: { sent: 0, passed: 0, failures: [], retried: 0 },
        usage: { record: "missing", problems: ["the node has no URL in the core"], unconfirmedKeys: 0 },
      };
      const s = scoreNode(obs);
      if (obs.usage.unconfirmedKeys > 0) {
        s.reasons.push(`${obs.usage.unconfirmedKeys} keys it lists are lacking on their other replicas: not billed`);
      }
      return { ...obs, ...s };
    });
  for (const n of nodes) {
    ctx.metrics?.score.set({ cluster: String(ctx.cluster), node: String(n.node) }, n.score);
    if (n.score < 10_000) log.warn({ node: n.node, score: n.score, reasons: n.reasons }, "node scored below full");
  }
  return { cluster: ctx.cluster, era: ctx.era, nodes, buckets: measured.buckets };
}

/**
 * A challenge answered 404, or for a newer version than the manifest listed, may have met an
 * object its owner changed or deleted during the era: that fails no node. It stands when the
 * object's replicas still agree, at the era's end, on the version challenged (the node lost it, or
 * lies); it is void when they agree on another version or none, or when no replica's era-end
 * manifest could be read (nothing proves a loss).
 */
export function settleChangedObjects(
  members: Map<number, { obs: NodeObservations }>,
  placement: Placement,
  eraEnd: Manifests,
  log?: Logger,
): void {
  const agreed = agreedObjects(placement, eraEnd);
  for (const [node, m] of members) {
    for (const f of m.obs.challenges.failures) {
      if (f.version === undefined || !f.counted) continue;
      const a = agreed.get(`${f.bucket}/${f.key}`);
      const stands = a !== undefined && a.confirmed && a.entry.version.toString() === f.version;
      if (stands) continue;
      f.counted = false;
      f.what += " (the object changed during the era: its replicas no longer hold that version; not counted)";
      log?.info(
        { node, bucket: f.bucket, key: f.key },
        "a challenge met an object changed during the era: not counted",
      );
    }
  }
}

/** A node's usage record of the closed era: a node snapshots at the era's end, so a miss is asked again briefly. */
async function usageWithRetry(ctx: EraContext, m: Member): Promise<NodeUsage | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchUsage(m.target, ctx.sessions, ctx.cluster, ctx.era, ctx.config.challenges.timeoutMs);
    } catch (error) {
      const e = error as Error;
      const transient = e instanceof NodeCallError && (e.transient || /HTTP 404/.test(e.message));
      if (!transient || attempt >= 3 || ctx.signal.aborted) {
        m.obs.usage.record = transient ? "missing" : "invalid";
        m.obs.usage.problems.push(e.message);
        return undefined;
      }
      // The node's reaction time, not the era's: a wall-clock wait.
      await systemClock.sleep(1_000 * attempt, ctx.signal);
    }
  }
}
