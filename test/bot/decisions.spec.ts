import { expect } from "chai";
import canonicalize from "canonicalize";
import fc from "fast-check";
import { Wallet, getAddress, keccak256, toUtf8Bytes } from "ethers";
import { MAX_UNITS, aggregate, lowerMedian, quorum } from "../../manager-bot/src/aggregate";
import { canonicalJson, evidenceHash, hashOfJson, keccakInUse, ready } from "../../manager-bot/src/evidence";
import {
  REPORT_VERSION,
  reportDigest,
  signReport,
  type ReportBody,
  type SignedReport,
} from "../../manager-bot/src/report";
import { MemoryReportBook, ReportUndecided, validateReport, type ChainView } from "../../manager-bot/src/validate";

const CHAIN = 31337;
const CORE = getAddress("0x00000000000000000000000000000000000c0de1");
const validators = [1, 2, 3, 4].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));
const outsider = new Wallet("0x" + "9".padStart(64, "0"));
const addr = (w: Wallet) => getAddress(w.address);

/** A chain where cluster 1's era 5 ended at t = 1,000 and now is 2,000; validators 1–3 count. */
function chain(overrides: Partial<ChainView> = {}): ChainView {
  return {
    chainId: CHAIN,
    core: CORE,
    eraEnd: async (cluster, era) => (cluster === 1 ? 1000n + BigInt(era - 5) * 100n : undefined),
    validatorsAt: async () => new Set(validators.slice(0, 3).map(addr)),
    now: async () => 2000n,
    ...overrides,
  };
}

function body(scores: number[], extra: Partial<ReportBody> = {}): ReportBody {
  return {
    cluster: 1,
    era: 5,
    nodes: scores.map((score, i) => ({
      node: i + 1,
      availabilityBps: 10_000,
      latencyMs: 20,
      retrievable: true,
      score,
    })),
    buckets: [{ bucket: 7, measuredBytes: "1073741825" }],
    ...extra,
  };
}

const sign = (w: Wallet, b: ReportBody) => signReport(w, CHAIN, CORE, b);
const swapCase = (c: string) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());

describe("manager bot: reports, aggregation and evidence (pure)", function () {
  describe("validation: one path, every rejection with its reason", function () {
    it("accepts a validator's report for a closed era, once", async function () {
      const book = new MemoryReportBook();
      const r = await sign(validators[0], body([9000, 9500]));
      const v = await validateReport(r, chain(), book);
      expect(v.status).to.equal("accepted");
      if (v.status === "accepted") expect(v.digest).to.equal(reportDigest(CHAIN, CORE, r.report));
      expect(book.reportsFor(1, 5)).to.deep.equal([r]);
      expect(await validateReport(r, chain(), book)).to.deep.include({ status: "rejected", reason: "duplicate" });
    });

    const malformed: [string, (r: SignedReport) => unknown, RegExp][] = [
      ["a missing field", (r) => ({ ...r, report: { ...r.report, era: undefined } }), /^report\.era: /],
      [
        "a score above 10,000",
        (r) => ({ ...r, report: { ...r.report, nodes: [{ ...r.report.nodes[0], score: 10_001 }] } }),
        /nodes\.0\.score/,
      ],
      [
        "nodes out of order",
        (r) => ({ ...r, report: { ...r.report, nodes: [...r.report.nodes].reverse() } }),
        /nodes must be in strictly increasing order/,
      ],
      ["an unknown field", (r) => ({ ...r, extra: true }), /Unrecognized key/],
      ["another version", (r) => ({ ...r, version: 2 }), /^version: /],
      [
        "bytes as a number",
        (r) => ({ ...r, report: { ...r.report, buckets: [{ bucket: 7, measuredBytes: 5 }] } }),
        /measuredBytes/,
      ],
      [
        "a validator whose mixed case fails the EIP-55 checksum",
        (r) => ({ ...r, validator: r.validator.slice(0, -1) + swapCase(r.validator.slice(-1)) }),
        /^validator: the mixed case fails the EIP-55 checksum \(write the address all lower-case, or fix it\)$/,
      ],
      [
        "a core whose mixed case fails the EIP-55 checksum",
        (r) => ({ ...r, core: "0x00000000000000000000000000000000000C0de1" }),
        /^core: the mixed case fails the EIP-55 checksum/,
      ],
      ["not an object", () => [1, 2], /^\(root\): Invalid input: expected object, received array$/],
    ];
    for (const [what, mutate, detail] of malformed) {
      it(`malformed: ${what}`, async function () {
        const r = await sign(validators[0], body([9000, 9500]));
        const v = await validateReport(mutate(r), chain(), new MemoryReportBook());
        expect(v).to.deep.include({ status: "rejected", reason: "malformed" });
        if (v.status === "rejected") expect(v.detail).to.match(detail);
      });
    }

    it("wrong chain, wrong core, unknown cluster, early", async function () {
      const book = new MemoryReportBook();
      const other = await signReport(validators[0], 1, CORE, body([9000]));
      expect(await validateReport(other, chain(), book)).to.deep.include({
        reason: "wrong-chain",
        detail: "for chain 1, this is chain 31337",
      });
      const core2 = await signReport(validators[0], CHAIN, addr(outsider), body([9000]));
      expect(await validateReport(core2, chain(), book)).to.deep.include({ reason: "wrong-core" });
      const c9 = await sign(validators[0], body([9000], { cluster: 9 }));
      expect(await validateReport(c9, chain(), book)).to.deep.include({
        reason: "unknown-cluster",
        detail: "no cluster 9",
      });
      const late = await sign(validators[0], body([9000], { era: 20 }));
      expect(await validateReport(late, chain(), book)).to.deep.include({
        reason: "early",
        detail: "era 20 of cluster 1 ends at 2500, it is 2000",
      });
    });

    it("forged: a report claiming another validator, or a broken signature", async function () {
      const r = await sign(outsider, body([9000]));
      const claimed = { ...r, validator: addr(validators[0]) };
      expect(await validateReport(claimed, chain(), new MemoryReportBook())).to.deep.include({
        reason: "forged",
        detail: `signed by ${addr(outsider)}, not by ${addr(validators[0])}`,
      });
      const tampered = { ...(await sign(validators[0], body([9000]))), report: body([10_000]) };
      expect(await validateReport(tampered, chain(), new MemoryReportBook())).to.deep.include({ reason: "forged" });
    });

    it("addresses all lower-case or all upper-case are the same report", async function () {
      const book = new MemoryReportBook();
      const r = await sign(validators[0], body([9000]));
      const lower = { ...r, core: r.core.toLowerCase(), validator: r.validator.toLowerCase() };
      expect(await validateReport(lower, chain(), book)).to.deep.include({
        status: "accepted",
        validator: r.validator,
      });
      const upper = { ...r, validator: "0x" + r.validator.slice(2).toUpperCase() };
      expect(await validateReport(upper, chain(), book)).to.deep.include({ reason: "duplicate" });
    });

    it("a failed read: the transport's throws ReportUndecided (nothing recorded), any other is unverifiable", async function () {
      const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
      const r = await sign(validators[0], body([9000]));
      const book = new MemoryReportBook();
      const away = chain({ now: () => Promise.reject(reset) });
      await expect(validateReport(r, away, book)).to.be.rejectedWith(
        ReportUndecided,
        "cannot check the report now: read ECONNRESET",
      );
      const limited = chain({
        validatorsAt: () => Promise.reject(Object.assign(new Error("too many requests"), { code: -32005 })),
      });
      await expect(validateReport(r, limited, book)).to.be.rejectedWith(ReportUndecided);
      expect(book.reportsFor(1, 5)).to.deep.equal([]);
      // Thrown outright rather than rejected: the same.
      const broken = chain({
        eraEnd: () => {
          throw new TypeError("Cannot read properties of null (reading 'timestamp')");
        },
      });
      expect(await validateReport(r, broken, book)).to.deep.equal({
        status: "rejected",
        reason: "unverifiable",
        detail: "the bot could not check the report: Cannot read properties of null (reading 'timestamp')",
      });
      const full = new MemoryReportBook();
      full.accept = () => Promise.reject(new Error("SQLITE_FULL: database or disk is full"));
      expect(await validateReport(r, chain(), full)).to.deep.include({
        reason: "unverifiable",
        detail: "the bot could not check the report: SQLITE_FULL: database or disk is full",
      });
      expect(await validateReport(r, chain(), book)).to.deep.include({ status: "accepted" });
    });

    it("not a validator at the era's end", async function () {
      const r = await sign(validators[3], body([9000]));
      expect(await validateReport(r, chain(), new MemoryReportBook())).to.deep.include({
        reason: "not-a-validator",
        detail: `${addr(validators[3])} was not a validator of cluster 1 at the end of era 5`,
      });
    });

    it("equivocation: a second, different report drops both, and any later one", async function () {
      const book = new MemoryReportBook();
      await validateReport(await sign(validators[0], body([9000])), chain(), book);
      const second = await validateReport(await sign(validators[0], body([1000])), chain(), book);
      expect(second).to.deep.include({ status: "rejected", reason: "equivocation" });
      expect(book.reportsFor(1, 5)).to.deep.equal([]);
      const third = await validateReport(await sign(validators[0], body([9000])), chain(), book);
      expect(third).to.deep.include({ reason: "equivocation" });
    });
  });

  describe("aggregation", function () {
    const set = (n: number) => new Set(validators.slice(0, n).map(addr));
    const policy = { qosThreshold: 9000, unitSize: 1n << 30n };
    const ERA = { chainId: CHAIN, core: CORE, cluster: 1, era: 5 };

    it("quorum is ⌈2n/3⌉, and the lower median takes the lower middle", function () {
      expect([1, 2, 3, 4, 5, 6, 7].map(quorum)).to.deep.equal([1, 2, 2, 3, 4, 4, 5]);
      expect(lowerMedian([5n, 1n, 3n])).to.equal(3n);
      expect(lowerMedian([4n, 1n, 3n, 2n])).to.equal(2n);
      expect(() => lowerMedian([])).to.throw("lowerMedian of nothing");
    });

    it("three validators: per node the lower median; eligibility at the threshold; missing nodes and failed proofs score 0", async function () {
      const reports = [
        await sign(validators[0], body([9000, 9999, 9500])),
        await sign(
          validators[1],
          body([8999, 9999, 9500], {
            nodes: [
              { node: 1, availabilityBps: 1, latencyMs: 1, retrievable: true, score: 8999 },
              { node: 2, availabilityBps: 1, latencyMs: 1, retrievable: false, score: 9999 },
            ],
          }),
        ),
        await sign(validators[2], body([9100, 9999, 9400])),
      ];
      const a = aggregate(reports, set(3), [3, 1, 2], policy, ERA);
      expect(a.decided).to.equal(true);
      if (!a.decided) return;
      // node 1: 8999, 9000, 9100 → 9000 (eligible: at the threshold); node 2: 0, 9999, 9999 → 9999;
      // node 3: absent (0), 9400, 9500 → 9400.
      expect(a.scores).to.deep.equal([
        { node: 1, score: 9000, eligible: true },
        { node: 2, score: 9999, eligible: true },
        { node: 3, score: 9400, eligible: true },
      ]);
      const low = aggregate(reports, set(3), [1, 2, 3], { ...policy, qosThreshold: 9001 }, ERA);
      expect(low.decided && low.ineligible).to.deep.equal([1]);
    });

    it("four validators (an even count): three reports decide, the lower of the two middles counts", async function () {
      const reports = await Promise.all([8000, 9000, 9500, 9900].map((s, i) => sign(validators[i], body([s]))));
      const four = aggregate(reports, set(4), [1], policy, ERA);
      expect(four.decided && four.scores).to.deep.equal([{ node: 1, score: 9000, eligible: true }]);
      const three = aggregate(reports.slice(1), set(4), [1], policy, ERA);
      expect(three.decided && three.scores).to.deep.equal([{ node: 1, score: 9500, eligible: true }]);
    });

    it("fewer than ⌈2n/3⌉ reports: undecided, naming the missing validators", async function () {
      const a = aggregate([await sign(validators[1], body([9000]))], set(3), [1], policy, ERA);
      expect(a).to.deep.equal({
        decided: false,
        have: 1,
        need: 2,
        validators: 3,
        missing: [addr(validators[0]), addr(validators[2])].sort(),
      });
      // A report from outside the set does not count.
      const b = aggregate(
        [await sign(outsider, body([9000])), await sign(validators[1], body([9000]))],
        set(3),
        [1],
        policy,
        ERA,
      );
      expect(b.decided).to.equal(false);
    });

    it("counts one report per validator: listed twice, once; two different reports of one validator, neither", async function () {
      const a = await sign(validators[0], body([9000]));
      const b = await sign(validators[1], body([100]));
      const twice = aggregate([a, a], set(3), [1], policy, ERA);
      expect(twice).to.deep.equal({
        decided: false,
        have: 1,
        need: 2,
        validators: 3,
        missing: [addr(validators[1]), addr(validators[2])].sort(),
      });
      // Validator 0 also signed another report: neither of its two counts.
      const other = await sign(validators[0], body([9999]));
      const equivocated = aggregate([a, b, other, await sign(validators[2], body([9500]))], set(3), [1], policy, ERA);
      expect(equivocated.decided && { have: equivocated.have, scores: equivocated.scores }).to.deep.equal({
        have: 2,
        scores: [{ node: 1, score: 100, eligible: false }],
      });
      expect(aggregate([a, b, other], set(3), [1], policy, ERA)).to.deep.include({ decided: false, have: 1 });
    });

    it("counts only reports signed for the era's chain and core, about its cluster and era", async function () {
      const good = await sign(validators[0], body([9000]));
      const elsewhere = [
        await signReport(validators[1], 1, CORE, body([100])),
        await signReport(validators[1], CHAIN, getAddress("0x00000000000000000000000000000000000c0de2"), body([100])),
        await sign(validators[1], body([100], { cluster: 2 })),
        await sign(validators[1], body([100], { era: 4 })),
      ];
      for (const r of elsewhere) {
        expect(aggregate([good, r], set(3), [1], policy, ERA)).to.deep.include({ decided: false, have: 1 });
      }
      const counted = aggregate([good, await sign(validators[1], body([100]))], set(3), [1], policy, ERA);
      expect(counted).to.deep.include({ decided: true, have: 2 });
    });

    it("measured units: ⌈lower median bytes / unit size⌉ over the reports that measured the bucket, if a quorum did", async function () {
      const g = 1n << 30n;
      const b = (bytes: bigint[]) => bytes.map((x, i) => ({ bucket: i + 7, measuredBytes: x.toString() }));
      const huge = ((1n << 70n) * g).toString();
      const reports = [
        await sign(validators[0], body([9000], { buckets: b([g + 1n, 0n, 5n * g, BigInt(huge)]) })),
        await sign(validators[1], body([9000], { buckets: b([3n * g, 0n, 0n, BigInt(huge)]) })),
        await sign(validators[2], body([9000], { buckets: b([g]) })),
      ];
      const a = aggregate(reports, set(3), [1], policy, ERA);
      // Bucket 7: three measures; 8 and 10: two (the quorum of three); 9: two as well. A bucket one
      // validator alone names does not count (below), and units stop at the core's uint64.
      expect(a.decided && a.usage).to.deep.equal([
        { bucket: 7, measuredBytes: g + 1n, units: 2n },
        { bucket: 8, measuredBytes: 0n, units: 0n },
        { bucket: 9, measuredBytes: 0n, units: 0n },
        { bucket: 10, measuredBytes: BigInt(huge), units: MAX_UNITS },
      ]);
      const alone = [
        await sign(validators[0], body([9000], { buckets: [{ bucket: 99, measuredBytes: (1000n * g).toString() }] })),
        await sign(validators[1], body([9000], { buckets: [] })),
        await sign(validators[2], body([9000], { buckets: [] })),
      ];
      const c = aggregate(alone, set(3), [1], policy, ERA);
      expect(c.decided && c.usage).to.deep.equal([]);
    });
    describe("usage, exactly as bigints (the merge of the reports' lists and the medians as doubles)", function () {
      // Unsigned reports: aggregate does not check signatures (the intake did).
      const many = Array.from({ length: 40 }, (_, i) => getAddress("0x" + (0xb000 + i).toString(16).padStart(40, "0")));
      const unsigned = (validator: string, buckets: ReportBody["buckets"]): SignedReport => ({
        version: REPORT_VERSION,
        chainId: CHAIN,
        core: CORE,
        validator,
        report: { cluster: 1, era: 5, nodes: [], buckets },
        signature: "0x" + "11".repeat(65),
      });
      /** What aggregate's usage is, written plainly: every measurement a bigint, grouped in a map. */
      const plainUsage = (reports: SignedReport[], need: number) => {
        const byBucket = new Map<number, bigint[]>();
        for (const r of reports) {
          for (const b of r.report.buckets)
            byBucket.set(b.bucket, [...(byBucket.get(b.bucket) ?? []), BigInt(b.measuredBytes)]);
        }
        return [...byBucket]
          .filter(([, bytes]) => bytes.length >= need)
          .sort(([a], [b]) => a - b)
          .map(([bucket, bytes]) => {
            const measuredBytes = lowerMedian(bytes);
            const units = (measuredBytes + policy.unitSize - 1n) / policy.unitSize;
            return { bucket, measuredBytes, units: units > MAX_UNITS ? MAX_UNITS : units };
          });
      };
      const usageOf = (lists: ReportBody["buckets"][]) => {
        const a = aggregate(
          lists.map((buckets, i) => unsigned(many[i], buckets)),
          new Set(many.slice(0, lists.length)),
          [1],
          policy,
          ERA,
        );
        if (!a.decided) throw new Error("not decided");
        return a.usage;
      };
      const one = (bucket: number, ...bytes: string[]) => bytes.map((measuredBytes) => [{ bucket, measuredBytes }]);

      it("beyond 15 digits as bigints (2^53 + 1 is no double), leading zeros by value, 33 validators and more sorted", function () {
        expect(usageOf(one(3, "9007199254740993", "9007199254740992", "9007199254740995"))).to.deep.equal([
          { bucket: 3, measuredBytes: 9007199254740993n, units: 8388609n },
        ]);
        // 15 digits (doubles) and 16 (bigints) in one bucket.
        expect(
          usageOf(one(3, "999999999999999", "1000000000000000", "0999999999999998")).map((u) => u.measuredBytes),
        ).to.deep.equal([999999999999999n]);
        expect(usageOf(one(3, "010", "9", "0011", "000")).map((u) => u.measuredBytes)).to.deep.equal([9n]);
        const forty = Array.from({ length: 40 }, (_, i) => String(((i * 17) % 40) * 1_000_003));
        expect(usageOf(one(3, ...forty)).map((u) => u.measuredBytes)).to.deep.equal([19n * 1_000_003n]);
        expect(usageOf(one(3, ...forty.slice(0, 33))).map((u) => u.measuredBytes)).to.deep.equal([
          lowerMedian(forty.slice(0, 33).map(BigInt)),
        ]);
      });

      it("any lists, measurements and number of validators: what the plain map of bigints gives", function () {
        const digits = fc.oneof(
          fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }).map(String),
          fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n }).map(String),
          fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }).map(String),
          fc
            .tuple(fc.integer({ min: 1, max: 3 }), fc.bigInt({ min: 0n, max: 10n ** 13n }))
            .map(([z, v]) => "0".repeat(z) + v),
        );
        const list = fc
          .uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 12 })
          .chain((ids) =>
            fc.tuple(
              ...[...ids]
                .sort((a, b) => a - b)
                .map((bucket) => digits.map((measuredBytes) => ({ bucket, measuredBytes }))),
            ),
          );
        fc.assert(
          fc.property(fc.array(list, { minLength: 1, maxLength: 40 }), fc.boolean(), (lists, reverseOne) => {
            const reports = lists.map((buckets, i) => unsigned(many[i], buckets));
            const expected = plainUsage(reports, quorum(lists.length));
            expect(usageOf(lists)).to.deep.equal(expected);
            // A list out of order (no valid report is) gives the same usage.
            if (reverseOne) expect(usageOf([[...lists[0]].reverse(), ...lists.slice(1)])).to.deep.equal(expected);
          }),
          { numRuns: 300 },
        );
      });
    });
  });

  describe("evidence", function () {
    it("is canonical JSON (RFC 8785): key order and bigints do not change the hash", function () {
      const a = { era: 5, cluster: 1n, actions: [{ kind: "distribution", ineligible: [2] }], policy: { k: 3, m: 1 } };
      const b = { policy: { m: 1, k: 3 }, actions: [{ ineligible: [2], kind: "distribution" }], cluster: "1", era: 5 };
      expect(canonicalJson(a)).to.equal(
        '{"actions":[{"ineligible":[2],"kind":"distribution"}],"cluster":"1","era":5,"policy":{"k":3,"m":1}}',
      );
      expect(evidenceHash(a)).to.equal(evidenceHash(b));
      expect(evidenceHash(a)).to.equal(keccak256(toUtf8Bytes(canonicalJson(b))));
      expect(evidenceHash({ ...a, era: 6 })).to.not.equal(evidenceHash(a));
    });

    it("writes exactly what the canonicalize package (the RFC's JavaScript reference) writes", function () {
      // Keys that sort differently as strings and as integers, unicode, escapes, nesting, and
      // arrays of flat objects (the fast paths).
      const key = fc.oneof(fc.string(), fc.constantFrom("1", "10", "2", "a", "B", "é", "\u00e9", "\ud83d\ude00", ""));
      const doc = fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: "small" },
          fc.constant(null),
          fc.boolean(),
          fc.integer(),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.string({ unit: "binary" }),
          fc.array(tie("value"), { maxLength: 5 }),
          fc.dictionary(key, tie("value"), { maxKeys: 5 }),
          fc.array(fc.record({ bucket: fc.nat(), measuredBytes: fc.string() }), { maxLength: 4 }),
        ),
      })).value;
      fc.assert(
        fc.property(doc, (d) => {
          expect(canonicalJson(d)).to.equal(canonicalize(d));
        }),
        { numRuns: 500 },
      );
      // Bigints are written as decimal strings; what JSON leaves out is left out.
      expect(canonicalJson({ b: 2n ** 70n, u: undefined, list: [undefined, 1n] })).to.equal(
        `{"b":"${2n ** 70n}","list":[null,"1"]}`,
      );
      expect(() => canonicalJson({ x: Number.POSITIVE_INFINITY })).to.throw("Infinity has no JSON form");
    });

    it("writes bigints as their decimal strings, in flat objects and arrays too (written by the engine in one call)", function () {
      const asStrings = (v: unknown): unknown => {
        if (typeof v === "bigint") return v.toString();
        if (Array.isArray(v)) return v.map(asStrings);
        if (v !== null && typeof v === "object") {
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asStrings(x)]));
        }
        return v;
      };
      const big = fc.bigInt({ min: -(2n ** 256n), max: 2n ** 256n });
      const doc = fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: "small" },
          big,
          fc.integer(),
          fc.string(),
          fc.constant(null),
          fc.array(tie("value"), { maxLength: 5 }),
          fc.dictionary(fc.constantFrom("1", "10", "2", "a", "B", "é", ""), tie("value"), { maxKeys: 5 }),
          fc.array(fc.record({ bucket: fc.nat(), measuredBytes: big, units: big }), { maxLength: 4 }),
          fc.array(fc.record({ a: big, b: fc.option(fc.boolean(), { nil: undefined }) }), { maxLength: 4 }),
        ),
      })).value;
      fc.assert(
        fc.property(doc, (d) => {
          expect(canonicalJson(d)).to.equal(canonicalize(asStrings(d)));
        }),
        { numRuns: 500 },
      );
      expect(canonicalJson([{ bucket: 7, measuredBytes: 2n ** 200n, units: 1n }])).to.equal(
        `[{"bucket":7,"measuredBytes":"${2n ** 200n}","units":"1"}]`,
      );
      // A library's BigInt.prototype.toJSON changes nothing: the document is the same everywhere.
      const proto = BigInt.prototype as { toJSON?: () => string };
      proto.toJSON = () => "from toJSON";
      try {
        expect(canonicalJson({ list: [{ b: 1n }, { b: 2n }], o: { c: 3n }, x: [4n] })).to.equal(
          '{"list":[{"b":"1"},{"b":"2"}],"o":{"c":"3"},"x":["4"]}',
        );
      } finally {
        delete proto.toJSON;
      }
    });

    it("is hashed by hash-wasm's keccak once ready, to exactly what ethers' keccak256 gives", async function () {
      this.timeout(120_000);
      await ready();
      expect(keccakInUse()).to.equal("hash-wasm");
      const ethersHash = (json: string) => keccak256(toUtf8Bytes(json));
      // Every length around keccak-256's 136-byte block, and multi-byte characters across it.
      for (let n = 0; n <= 3 * 136 + 1; n++) {
        for (const text of ["a".repeat(n), "é".repeat(n), "x😀".repeat(n)]) {
          expect(hashOfJson(text), `${n} × ${text.slice(0, 2)}`).to.equal(ethersHash(text));
        }
      }
      expect(hashOfJson("")).to.equal("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
      // The text is encoded 2^20 UTF-16 units at a time: a character across that line is one
      // character still, and a lone surrogate is U+FFFD as Buffer writes it, wherever it falls.
      for (let n = 2 ** 20 - 2; n <= 2 ** 20 + 1; n++) {
        const text = "a".repeat(n) + "😀é".repeat(3);
        expect(hashOfJson(text), `a × ${n} then 😀`).to.equal(ethersHash(text));
        for (const lone of ["\ud83d", "\ude00"]) {
          const odd = "a".repeat(n) + lone + "b";
          expect(hashOfJson(odd), `a × ${n} then a lone surrogate`).to.equal(keccak256(Buffer.from(odd, "utf8")));
        }
      }
      expect(hashOfJson("a".repeat(2 ** 20 - 1) + "\ud83d")).to.equal(
        keccak256(Buffer.from("a".repeat(2 ** 20 - 1) + "\ud83d", "utf8")),
      );
      const doc = fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: "small" },
          fc.constant(null),
          fc.boolean(),
          fc.integer(),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.string({ unit: "binary" }),
          fc.array(tie("value"), { maxLength: 5 }),
          fc.dictionary(fc.string({ unit: "binary" }), tie("value"), { maxKeys: 5 }),
        ),
      })).value;
      fc.assert(
        fc.property(doc, (d) => {
          const json = canonicalJson(d);
          expect(hashOfJson(json)).to.equal(ethersHash(json));
        }),
        { numRuns: 500 },
      );
      // A large document (100,000 buckets twice, over 10 MiB): one hasher, reused.
      const buckets = Array.from({ length: 100_000 }, (_, i) => ({
        bucket: i + 1,
        measuredBytes: String(BigInt(i) * 1_073_741_827n),
        note: i % 1000 === 0 ? "ünïcödé 😀" : "",
      }));
      const big = canonicalJson({ era: 5, reports: [{ buckets }, { buckets }] });
      expect(big.length).to.be.greaterThan(10 * 2 ** 20);
      const expected = ethersHash(big);
      expect(hashOfJson(big)).to.equal(expected);
      expect(hashOfJson(big)).to.equal(expected);
      expect(evidenceHash({ era: 5, reports: [{ buckets }, { buckets }] })).to.equal(expected);
    });
  });
});
