import { expect } from "chai";
import type { ManifestEntry } from "../../storage-node/src/bucketManifest";
import { ed25519 } from "@noble/curves/ed25519";
import { newSessionKey } from "../../storage-node/src/auth/sign";
import { keyToken, replicasFor, replicasForToken, type Ring } from "../../storage-node/src/placement";
import { settleChangedObjects } from "../../validator/src/eraRun";
import { nodeEd25519Sign } from "../../validator/src/nodeApi";
import { SeededRandom, challengeSeed, missProbability } from "../../validator/src/randomness";
import {
  agreedObjects,
  challengeCandidates,
  challengeCandidatesByNode,
  measureUsage,
  pickLeaves,
  scoreNode,
  type Manifests,
  type NodeObservations,
  type Placement,
} from "../../validator/src/score";

const LEAF = 64 * 1024;

function obs(over: Partial<NodeObservations> = {}): NodeObservations {
  return {
    node: 1,
    url: "http://127.0.0.1:1",
    probes: { sent: 20, ok: 20, failures: [], latenciesMs: Array.from({ length: 20 }, (_, i) => 10 + i) },
    challenges: { sent: 30, passed: 30, failures: [], retried: 0 },
    usage: { record: "ok", problems: [], unconfirmedKeys: 0 },
    ...over,
  };
}

const entry = (key: string, size = 1000, version = 1n): ManifestEntry => ({
  key,
  version,
  sha256: (key.length.toString(16) + "ab").padEnd(64, "0"),
  size,
  root: "cd".padEnd(64, "0"),
});

/** Three nodes, one vNode each, replication 2: each key on two of them. */
const ring: Ring = { tokens: [1n << 62n, 2n << 62n, 3n << 62n], nodes: [1, 2, 3] };
const placement: Placement = { ring, replicationFactor: 2, distinctNodes: 3 };

/** Keys whose replicas (by the ring) are exactly `nodes`. */
function keysOn(nodes: number[], count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const k = `obj-${i}`;
    const r = replicasFor(ring, 2, 3, k);
    if (r.length === nodes.length && nodes.every((n) => r.includes(n))) out.push(k);
  }
  return out;
}

describe("validator: scoring", () => {
  it("a healthy node: full availability, the lower median latency, retrievable, score = availability", () => {
    expect(scoreNode(obs())).to.deep.equal({
      availabilityBps: 10_000,
      latencyMs: 19,
      retrievable: true,
      score: 10_000,
      reasons: [],
    });
  });

  it("failed probes lower availability in basis points and are named; latency only from successes", () => {
    const s = scoreNode(
      obs({
        probes: {
          sent: 20,
          ok: 15,
          latenciesMs: [5, 6, 7, 8, 100, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
          failures: [{ at: 1, what: "no answer within 2000 ms from http://127.0.0.1:1" }],
        },
      }),
    );
    expect(s.availabilityBps).to.equal(7_500);
    expect(s.latencyMs).to.equal(12);
    expect(s.score).to.equal(7_500);
    expect(s.reasons).to.deep.equal([
      "5 of 20 probes failed (first: no answer within 2000 ms from http://127.0.0.1:1)",
    ]);
  });

  it("a counted challenge failure makes the node not retrievable and scores 0; an uncounted timeout does not", () => {
    const timeout = { at: 1, bucket: "1", key: "a", leafIndex: 0, what: "no answer within 5000 ms", counted: false };
    const ok = scoreNode(obs({ challenges: { sent: 30, passed: 30, failures: [timeout], retried: 1 } }));
    expect(ok.retrievable).to.equal(true);
    expect(ok.score).to.equal(10_000);
    const wrong = {
      ...timeout,
      key: "b",
      leafIndex: 3,
      what: "leaf 3's bytes do not lead to the object's root",
      counted: true,
    };
    const bad = scoreNode(obs({ challenges: { sent: 30, passed: 29, failures: [timeout, wrong], retried: 1 } }));
    expect(bad.retrievable).to.equal(false);
    expect(bad.score).to.equal(0);
    expect(bad.availabilityBps).to.equal(10_000);
    expect(bad.reasons).to.deep.equal([
      `1 of 30 challenges failed (first: bucket 1 key "b" leaf 3: leaf 3's bytes do not lead to the object's root)`,
    ]);
  });

  it("an invalid usage record scores 0 whatever else; a missing one does not", () => {
    const lie = scoreNode(
      obs({
        usage: {
          record: "invalid",
          problems: ["bucket 1: claims 5000 bytes, its manifest sums 1000"],
          unconfirmedKeys: 0,
        },
      }),
    );
    expect(lie.score).to.equal(0);
    expect(lie.retrievable).to.equal(true);
    expect(lie.reasons).to.deep.equal(["usage record invalid: bucket 1: claims 5000 bytes, its manifest sums 1000"]);
    expect(scoreNode(obs({ usage: { record: "missing", problems: ["HTTP 404"], unconfirmedKeys: 0 } })).score).to.equal(
      10_000,
    );
  });

  it("a node no probe reached scores 0, latency 0", () => {
    const s = scoreNode(obs({ probes: { sent: 0, ok: 0, failures: [], latenciesMs: [] } }));
    expect([s.availabilityBps, s.latencyMs, s.score]).to.deep.equal([0, 0, 0]);
    expect(s.reasons).to.deep.equal(["no probe was sent this era"]);
  });
});

describe("validator: usage across replicas", () => {
  const [a1, a2] = keysOn([1, 2], 2);
  const [b1] = keysOn([2, 3], 1);

  it("counts each object its replicas agree on once, whatever the replication", () => {
    const m: Manifests = new Map([
      [1, new Map([[7n, [entry(a1, 100), entry(a2, 200)]]])],
      [2, new Map([[7n, [entry(a1, 100), entry(a2, 200), entry(b1, 400)]]])],
      [3, new Map([[7n, [entry(b1, 400)]]])],
    ]);
    const u = measureUsage(placement, m, [7n, 8n]);
    expect(u.buckets).to.deep.equal([
      { bucket: 7n, measuredBytes: 700n, unconfirmedKeys: 0 },
      { bucket: 8n, measuredBytes: 0n, unconfirmedKeys: 0 },
    ]);
    expect(u.unconfirmedByNode.size).to.equal(0);
  });

  it("a key one replica claims and the other lacks is inflation: dropped and counted against the claimer", () => {
    const m: Manifests = new Map([
      [1, new Map([[7n, [entry(a1, 100), entry(a2, 5_000_000)]]])],
      [2, new Map([[7n, [entry(a1, 100)]]])],
      [3, new Map([[7n, []]])],
    ]);
    const u = measureUsage(placement, m, [7n]);
    expect(u.buckets).to.deep.equal([{ bucket: 7n, measuredBytes: 100n, unconfirmedKeys: 1 }]);
    expect([...u.unconfirmedByNode]).to.deep.equal([[1, 1]]);
  });

  it("a replica that sent no manifest is no vote: the other's listing stands", () => {
    const m: Manifests = new Map([[1, new Map([[7n, [entry(a1, 100)]]])]]);
    expect(measureUsage(placement, m, [7n]).buckets[0].measuredBytes).to.equal(100n);
  });

  it("replicas listing different versions: the most listed wins, then the higher version", () => {
    const m: Manifests = new Map([
      [1, new Map([[7n, [entry(a1, 100, 1n)]]])],
      [2, new Map([[7n, [entry(a1, 300, 2n)]]])],
    ]);
    const agreed = agreedObjects(placement, m).get(`7/${a1}`)!;
    expect(agreed.entry.version).to.equal(2n);
    expect(agreed.confirmed).to.equal(false);
    // A listing by a node the ring does not name is not a vote.
    const m3: Manifests = new Map([
      [1, new Map([[7n, [entry(a1, 100, 1n)]]])],
      [2, new Map([[7n, [entry(a1, 100, 1n)]]])],
      [3, new Map([[7n, [entry(a1, 900, 9n)]]])],
    ]);
    const a = agreedObjects(placement, m3).get(`7/${a1}`)!;
    expect([a.entry.version, a.confirmed, a.holders]).to.deep.equal([1n, true, [1, 2]]);
    expect(measureUsage(placement, m3, [7n]).unconfirmedByNode.size).to.equal(0);
  });
});

describe("validator: what a node is challenged on", () => {
  const [a1, a2] = keysOn([1, 2], 2);

  it("its own listing, and what its replicas agree it should hold but it does not list", () => {
    const m: Manifests = new Map([
      [1, new Map([[7n, [entry(a1)]]])],
      [2, new Map([[7n, [entry(a1), entry(a2)]]])],
    ]);
    const c = challengeCandidates(1, placement, m, true);
    expect(c.map((x) => [x.entry.key, x.own])).to.deep.equal([
      [a1, true],
      [a2, false],
    ]);
    // A node that joined during the era is judged on its own listing only.
    expect(challengeCandidates(1, placement, m, false).map((x) => x.entry.key)).to.deep.equal([a1]);
  });

  it("for every node at once: the same candidates, in the same order, as node by node", () => {
    const random = new SeededRandom("0x" + "42".repeat(32));
    let missing = 0;
    for (let round = 0; round < 50; round++) {
      const m: Manifests = new Map();
      for (const node of [1, 2, 3]) {
        // Now and then a node sent no manifest, or none of a bucket.
        if (random.below(6) === 0) continue;
        const buckets = new Map<bigint, ManifestEntry[]>();
        for (const bucket of [7n, 8n]) {
          if (random.below(5) === 0) continue;
          const entries: ManifestEntry[] = [];
          for (let i = 0; i < 12; i++) {
            // Listed or not, at one of two versions: agreement, disagreement and absence.
            if (random.below(3) === 0) continue;
            entries.push(entry(`obj-${i}`, 1000 + i, BigInt(1 + random.below(2))));
          }
          buckets.set(bucket, entries);
        }
        m.set(node, buckets);
      }
      const all = challengeCandidatesByNode([1, 2, 3], placement, m);
      for (const node of [1, 2, 3]) {
        expect(all.get(node), `round ${round}, node ${node}`).to.deep.equal(
          challengeCandidates(node, placement, m, true),
        );
        missing += all.get(node)!.filter((c) => !c.own).length;
      }
    }
    expect(missing).to.be.greaterThan(0);
  });

  it("draws leaves uniformly over all leaves, reproducibly from the seed", () => {
    const candidates = [
      { bucket: 7n, entry: entry("small", 10), own: true },
      { bucket: 7n, entry: entry("large", 9 * LEAF), own: true },
    ];
    const seed = challengeSeed(`0x${"11".repeat(32)}`, "0x" + "22".repeat(20), 1, 2, 3);
    const a = pickLeaves(candidates, 2000, new SeededRandom(seed));
    const b = pickLeaves(candidates, 2000, new SeededRandom(seed));
    expect(a.map((p) => `${p.candidate.entry.key}:${p.leafIndex}`)).to.deep.equal(
      b.map((p) => `${p.candidate.entry.key}:${p.leafIndex}`),
    );
    // 1 leaf of 10: about 200 of 2000 draws (binomial: 4 standard deviations is ±54).
    const small = a.filter((p) => p.candidate.entry.key === "small").length;
    expect(small).to.be.within(146, 254);
    expect(a.every((p) => p.leafIndex >= 0 && p.leafIndex < (p.candidate.entry.key === "small" ? 1 : 9))).to.equal(
      true,
    );
    expect(new Set(a.filter((p) => p.candidate.entry.key === "large").map((p) => p.leafIndex)).size).to.equal(9);
    expect(pickLeaves([], 30, new SeededRandom(seed))).to.deep.equal([]);
  });
});

describe("validator: randomness", () => {
  const hash = `0x${"ab".repeat(32)}`;
  const v1 = `0x${"01".repeat(20)}`;
  const v2 = `0x${"02".repeat(20)}`;

  it("a seed per block, validator, node, cluster and era", () => {
    const s = challengeSeed(hash, v1, 1, 2, 3);
    expect(s).to.match(/^0x[0-9a-f]{64}$/);
    expect(challengeSeed(hash, v1, 1, 2, 3)).to.equal(s);
    const others = [
      challengeSeed(`0x${"ac".repeat(32)}`, v1, 1, 2, 3),
      challengeSeed(hash, v2, 1, 2, 3),
      challengeSeed(hash, v1, 4, 2, 3),
      challengeSeed(hash, v1, 1, 5, 3),
      challengeSeed(hash, v1, 1, 2, 6),
    ];
    expect(new Set([s, ...others]).size).to.equal(6);
  });

  it("below(n) stays in range and refuses a bad n; fraction is in [0, 1)", () => {
    const r = new SeededRandom(challengeSeed(hash, v1, 1, 2, 3));
    for (let i = 0; i < 200; i++) {
      const x = r.below(7);
      expect(x).to.be.within(0, 6);
      const f = r.fraction();
      expect(f >= 0 && f < 1).to.equal(true);
    }
    expect(() => r.below(0)).to.throw(RangeError, "below(0): a positive whole number");
  });

  it("three validators of 30 challenges catch a node that lost 5 % of its leaves with at least 99 %", () => {
    const miss = missProbability(0.05, 30, 3);
    expect(miss).to.be.closeTo(0.0099, 0.0001);
    expect(1 - miss).to.be.at.least(0.99);
    // One validator alone would not.
    expect(1 - missProbability(0.05, 30, 1)).to.be.below(0.79);
  });
});

describe("validator: fast paths", () => {
  it("node:crypto's ed25519 signs exactly as the portable one, and the node accepts it", () => {
    for (let i = 0; i < 5; i++) {
      const key = newSessionKey();
      const message = new TextEncoder().encode(`DDC-REQUEST-2\nGET\n/v1/qos/probe?nonce=${i}`);
      expect(Buffer.from(nodeEd25519Sign(message, key.privateKey))).to.deep.equal(
        Buffer.from(ed25519.sign(message, key.privateKey)),
      );
    }
  });

  it("placement from a kept token is the storage node's placement", () => {
    for (let i = 0; i < 200; i++) {
      const key = `k/${i}`;
      expect(replicasForToken(ring, 2, 3, keyToken(key))).to.deep.equal(replicasFor(ring, 2, 3, key));
    }
  });
});

describe("validator: a challenge that met a changed object", () => {
  const [a1, a2, a3] = keysOn([1, 2], 3);
  const failure = (key: string, version: string) => ({
    at: 1,
    bucket: "7",
    key,
    leafIndex: 0,
    what: "HTTP 404 not-found: no object",
    counted: true,
    version,
  });

  it("stands when the replicas still agree on the version challenged; void when they moved on or dropped it", () => {
    const node1 = obs({
      challenges: {
        sent: 30,
        passed: 27,
        retried: 0,
        failures: [failure(a1, "1"), failure(a2, "1"), failure(a3, "1")],
      },
    });
    const eraEnd: Manifests = new Map([
      // a1: both replicas still list version 1 (the node lost it); a2: overwritten (version 2);
      // a3: deleted (neither lists it).
      [1, new Map([[7n, [entry(a1, 100, 1n), entry(a2, 100, 2n)]]])],
      [2, new Map([[7n, [entry(a1, 100, 1n), entry(a2, 100, 2n)]]])],
    ]);
    settleChangedObjects(new Map([[1, { obs: node1 }]]), placement, eraEnd);
    expect(node1.challenges.failures.map((f) => [f.key, f.counted])).to.deep.equal([
      [a1, true],
      [a2, false],
      [a3, false],
    ]);
    expect(node1.challenges.failures[1].what).to.include("the object changed during the era");
    expect(scoreNode(node1).retrievable).to.equal(false);
    // A failure that is not about a changed object (wrong bytes) is never settled away.
    const wrong = obs({
      challenges: {
        sent: 30,
        passed: 29,
        retried: 0,
        failures: [{ at: 1, bucket: "7", key: a3, leafIndex: 0, what: "wrong bytes", counted: true }],
      },
    });
    settleChangedObjects(new Map([[1, { obs: wrong }]]), placement, eraEnd);
    expect(wrong.challenges.failures[0].counted).to.equal(true);
  });
});
