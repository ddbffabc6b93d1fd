import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";
import fc from "fast-check";
import { TypedDataEncoder, Wallet, getAddress, hexlify, verifyTypedData, type TypedDataDomain } from "ethers";
import { ethers } from "hardhat";
import {
  MAX_REPORT_BUCKETS,
  REPORT_ENCODE_TYPES,
  REPORT_TYPES,
  reportDigest,
  reportDomain,
  reportKeccak,
  reportSigner,
  signReport,
  type ReportBody,
} from "../../manager-bot/src/report";

const CHAIN = 31337;
const CORE = getAddress("0x00000000000000000000000000000000000c0de1");
const U16 = 2 ** 16 - 1;
const U32 = 2 ** 32 - 1;
const U256 = 2n ** 256n - 1n;

/** The reference: ethers' generic EIP-712 encoder. */
const ethersDigest = (chainId: number, core: string, body: ReportBody) =>
  TypedDataEncoder.hash(reportDomain(chainId, core), REPORT_TYPES, body).toLowerCase();

const ROOT = join(__dirname, "..", "..");

interface Case {
  chainId: number;
  core: string;
  body: ReportBody;
}

/**
 * The digests of `cases` in a fresh Node process: computed as soon as report.ts is loaded (before
 * hash-wasm can be compiled: on @noble/hashes' keccak) and once `reportKeccak` has settled, with
 * WebAssembly removed first when `withoutWasm`.
 */
function digestsElsewhere(
  cases: Case[],
  withoutWasm: boolean,
): { engine: string; atLoad: string[]; settled: string[] } {
  const script = `
    ${withoutWasm ? "delete globalThis.WebAssembly;" : ""}
    const r = require(${JSON.stringify(join(ROOT, "manager-bot", "src", "report.ts"))});
    const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    const digests = () => cases.map((c) => r.reportDigest(c.chainId, c.core, c.body));
    const atLoad = digests();
    r.reportKeccak.then((engine) => process.stdout.write(JSON.stringify({ engine, atLoad, settled: digests() })));
  `;
  const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, "tsconfig.json") },
    input: JSON.stringify(cases),
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (child.status !== 0) throw new Error(`the digest process failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as { engine: string; atLoad: string[]; settled: string[] };
}

const example: ReportBody = {
  cluster: 1,
  era: 42,
  nodes: [{ node: 1, availabilityBps: 9990, latencyMs: 35, retrievable: true, score: 9950 }],
  buckets: [{ bucket: 7, measuredBytes: "1073741824" }],
};

/** A report whose every value is the widest its EIP-712 type holds (bucket: the widest exact number). */
const widest: ReportBody = {
  cluster: U32,
  era: U32,
  nodes: [{ node: U32, availabilityBps: U16, latencyMs: U32, retrievable: true, score: U16 }],
  buckets: [{ bucket: Number.MAX_SAFE_INTEGER, measuredBytes: U256.toString() }],
};

const zeros: ReportBody = {
  cluster: 0,
  era: 0,
  nodes: [{ node: 0, availabilityBps: 0, latencyMs: 0, retrievable: false, score: 0 }],
  buckets: [{ bucket: 0, measuredBytes: "0" }],
};

const withNode = (patch: Record<string, unknown>): ReportBody => ({
  ...example,
  nodes: [example.nodes[0], { ...example.nodes[0], node: 2, ...patch }],
});
const withBucket = (patch: Record<string, unknown>): ReportBody => ({
  ...example,
  buckets: [{ ...example.buckets[0], ...patch }],
});

/** Random reports with every value over its whole EIP-712 range (beyond what the schema admits). */
const nodeArb = fc.record({
  node: fc.integer({ min: 0, max: U32 }),
  availabilityBps: fc.integer({ min: 0, max: U16 }),
  latencyMs: fc.integer({ min: 0, max: U32 }),
  retrievable: fc.boolean(),
  score: fc.integer({ min: 0, max: U16 }),
});
const bucketArb = fc.record({
  bucket: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  measuredBytes: fc.bigInt({ min: 0n, max: U256 }).map(String),
});
const reportArb = fc.record({
  cluster: fc.integer({ min: 0, max: U32 }),
  era: fc.integer({ min: 0, max: U32 }),
  nodes: fc.array(nodeArb, { maxLength: 12 }),
  buckets: fc.array(bucketArb, { maxLength: 12 }),
});
const chainIdArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const coreArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => getAddress(hexlify(b)));

describe("manager bot: the report's EIP-712 digest, encoded by hand", function () {
  describe("reportDigest", function () {
    it("hashes the canonical encodeType strings ethers derives from REPORT_TYPES", function () {
      const encoder = TypedDataEncoder.from(REPORT_TYPES);
      expect(REPORT_ENCODE_TYPES.Report).to.equal(encoder.encodeType("Report"));
      expect(REPORT_ENCODE_TYPES.NodeResult).to.equal(encoder.encodeType("NodeResult"));
      expect(REPORT_ENCODE_TYPES.BucketUsage).to.equal(encoder.encodeType("BucketUsage"));
      const domainFields = [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ];
      expect(REPORT_ENCODE_TYPES.EIP712Domain).to.equal(
        TypedDataEncoder.from({ EIP712Domain: domainFields }).encodeType("EIP712Domain"),
      );
    });

    it("gives the frozen digest of the README's example report", function () {
      // Version 1 is frozen: this digest never changes (ethers' encoder gives it too).
      const expected = "0x8eb345c331ab3626f06020e2cd833e7ac9c0682920af21ee8aeff4b78f9bf214";
      expect(ethersDigest(CHAIN, CORE, example)).to.equal(expected);
      expect(reportDigest(CHAIN, CORE, example)).to.equal(expected);
    });

    it("equals ethers' TypedDataEncoder on the edge values", function () {
      const cases: [string, number, string, ReportBody][] = [
        ["the example", CHAIN, CORE, example],
        ["every value at its maximum", Number.MAX_SAFE_INTEGER, "0x" + "ff".repeat(20), widest],
        ["every value 0", 1, "0x" + "00".repeat(20), zeros],
        ["no nodes, no buckets", CHAIN, CORE, { cluster: 1, era: 0, nodes: [], buckets: [] }],
        ["no nodes", CHAIN, CORE, { ...example, nodes: [] }],
        ["no buckets", CHAIN, CORE, { ...example, buckets: [] }],
        ["a lower-case core", CHAIN, CORE.toLowerCase(), example],
        // ethers encodes any truthy value as true; so does the hand encoder (the schema admits only booleans).
        ["a truthy non-boolean", CHAIN, CORE, withNode({ retrievable: 1 })],
        ["a hexadecimal measuredBytes, as ethers reads it", CHAIN, CORE, withBucket({ measuredBytes: "0xff" })],
      ];
      for (const [what, chainId, core, body] of cases) {
        expect(reportDigest(chainId, core, body), what).to.equal(ethersDigest(chainId, core, body));
      }
      expect(reportDigest(CHAIN, CORE, widest)).to.not.equal(reportDigest(CHAIN, CORE, zeros));
    });

    it("equals ethers' TypedDataEncoder on random reports (values over their whole EIP-712 range)", function () {
      fc.assert(
        fc.property(chainIdArb, coreArb, reportArb, (c, k, r) => {
          expect(reportDigest(c, k, r)).to.equal(ethersDigest(c, k, r));
        }),
        { numRuns: 300 },
      );
    });

    it(`equals ethers' TypedDataEncoder on a report of ${MAX_REPORT_BUCKETS.toLocaleString("en-US")} buckets`, function () {
      // ethers' encoder takes seconds here (15 s on a loaded 2-core machine): the reason for this one.
      this.timeout(180_000);
      const body: ReportBody = {
        cluster: 3,
        era: 1_000,
        nodes: Array.from({ length: 512 }, (_, i) => ({
          node: i + 1,
          availabilityBps: (i * 37) % 10_001,
          latencyMs: i * 1_000,
          retrievable: i % 3 !== 0,
          score: (i * 53) % 10_001,
        })),
        buckets: Array.from({ length: MAX_REPORT_BUCKETS }, (_, i) => ({
          bucket: i + 1,
          measuredBytes: (BigInt(i) * 1_000_003n ** 3n).toString(),
        })),
      };
      expect(reportDigest(CHAIN, CORE, body)).to.equal(ethersDigest(CHAIN, CORE, body));
    });

    it("runs on hash-wasm's keccak once it is compiled", async function () {
      expect(await reportKeccak).to.equal("hash-wasm");
      expect(reportDigest(CHAIN, CORE, example)).to.equal(ethersDigest(CHAIN, CORE, example));
    });

    it("gives the same digests on @noble/hashes' keccak: before hash-wasm is compiled, and without WebAssembly", function () {
      this.timeout(120_000);
      const cases: Case[] = [
        { chainId: CHAIN, core: CORE, body: example },
        { chainId: Number.MAX_SAFE_INTEGER, core: CORE, body: widest },
        { chainId: 1, core: CORE, body: zeros },
        ...fc.sample(fc.record({ chainId: chainIdArb, core: coreArb, body: reportArb }), { numRuns: 40, seed: 7 }),
      ];
      const expected = cases.map((c) => ethersDigest(c.chainId, c.core, c.body));
      expect(digestsElsewhere(cases, false)).to.deep.equal({
        engine: "hash-wasm",
        atLoad: expected,
        settled: expected,
      });
      expect(digestsElsewhere(cases, true)).to.deep.equal({
        engine: "@noble/hashes",
        atLoad: expected,
        settled: expected,
      });
    });

    describe("refuses a value outside its type, naming it, where ethers' encoder refuses it too", function () {
      const over: [string, number, string, ReportBody, string][] = [
        ["cluster", CHAIN, CORE, { ...example, cluster: 2 ** 32 }, "cluster: 4294967296 is out of range for uint32"],
        ["era", CHAIN, CORE, { ...example, era: -1 }, "era: -1 is out of range for uint32"],
        ["node", CHAIN, CORE, withNode({ node: 2 ** 32 }), "nodes[1].node: 4294967296 is out of range for uint32"],
        [
          "availabilityBps",
          CHAIN,
          CORE,
          withNode({ availabilityBps: 65_536 }),
          "nodes[1].availabilityBps: 65536 is out of range for uint16",
        ],
        ["latencyMs", CHAIN, CORE, withNode({ latencyMs: -1 }), "nodes[1].latencyMs: -1 is out of range for uint32"],
        ["score", CHAIN, CORE, withNode({ score: 65_536 }), "nodes[1].score: 65536 is out of range for uint16"],
        [
          "bucket as a bigint past uint64",
          CHAIN,
          CORE,
          withBucket({ bucket: 2n ** 64n }),
          "buckets[0].bucket: 18446744073709551616 is out of range for uint64",
        ],
        [
          "measuredBytes",
          CHAIN,
          CORE,
          withBucket({ measuredBytes: (U256 + 1n).toString() }),
          `buckets[0].measuredBytes: ${U256 + 1n} is out of range for uint256`,
        ],
        [
          "a negative measuredBytes",
          CHAIN,
          CORE,
          withBucket({ measuredBytes: "-1" }),
          "buckets[0].measuredBytes: -1 is out of range for uint256",
        ],
        ["chainId", -1, CORE, example, "chainId: -1 is out of range for uint256"],
      ];
      for (const [what, chainId, core, body, message] of over) {
        it(what, function () {
          expect(() => reportDigest(chainId, core, body)).to.throw(RangeError, message);
          expect(() => ethersDigest(chainId, core, body)).to.throw(/value out-of-bounds/);
        });
      }

      const notIntegers: [string, ReportBody, string][] = [
        ["a fraction", withNode({ score: 1.5 }), "nodes[1].score: 1.5 is not an integer"],
        ["NaN", { ...example, era: NaN }, "era: NaN is not an integer"],
        ["a missing field", withNode({ latencyMs: undefined }), "nodes[1].latencyMs: undefined is not an integer"],
        [
          "a non-numeric string",
          withBucket({ measuredBytes: "12abc" }),
          'buckets[0].measuredBytes: "12abc" is not an integer',
        ],
        ["an empty string", withBucket({ measuredBytes: "" }), 'buckets[0].measuredBytes: "" is not an integer'],
        [
          "a long string, cut in the message",
          withBucket({ measuredBytes: "x".repeat(100) }),
          `buckets[0].measuredBytes: "${"x".repeat(40)}…" is not an integer`,
        ],
      ];
      for (const [what, body, message] of notIntegers) {
        it(what, function () {
          expect(() => reportDigest(CHAIN, CORE, body)).to.throw(TypeError, message);
          expect(() => ethersDigest(CHAIN, CORE, body)).to.throw();
        });
      }

      it("a number beyond ±(2^53 − 1) (not exact any more), as ethers refuses it", function () {
        const body = withBucket({ bucket: 2 ** 60 });
        expect(() => reportDigest(CHAIN, CORE, body)).to.throw(
          RangeError,
          "buckets[0].bucket: 1152921504606847000 is not a safe integer, not exact as a number",
        );
        expect(() => ethersDigest(CHAIN, CORE, body)).to.throw(/overflow/);
        expect(() => reportDigest(CHAIN, CORE, { ...example, era: -(2 ** 60) })).to.throw(
          RangeError,
          "era: -1152921504606847000 is not a safe integer, not exact as a number",
        );
      });

      it("a list that is not an array", function () {
        const body = { ...example, buckets: { 0: example.buckets[0] } } as unknown as ReportBody;
        expect(() => reportDigest(CHAIN, CORE, body)).to.throw(TypeError, "buckets: not an array");
        expect(() => ethersDigest(CHAIN, CORE, body)).to.throw();
      });

      it("a core that is not an address, as before", function () {
        expect(() => reportDigest(CHAIN, "0x1234", example)).to.throw(/invalid address/);
      });
    });
  });

  describe("signReport and reportSigner", function () {
    const wallet = new Wallet("0x" + "7".padStart(64, "0"));

    /** A wallet whose typed-data signing fails: signReport must not go through it. */
    class DigestOnlyWallet extends Wallet {
      override signTypedData(): Promise<string> {
        throw new Error("signTypedData called");
      }
    }

    it("a Wallet signs the digest: the signature signTypedData gives, which ethers verifies", async function () {
      const fast = await signReport(new DigestOnlyWallet(wallet.privateKey), CHAIN, CORE, example);
      const typed = await wallet.signTypedData(reportDomain(CHAIN, CORE), REPORT_TYPES, example);
      expect(fast.signature).to.equal(typed);
      expect(verifyTypedData(reportDomain(CHAIN, CORE), REPORT_TYPES, example, fast.signature)).to.equal(
        wallet.address,
      );
      expect(fast).to.deep.equal({
        version: 1,
        chainId: CHAIN,
        core: CORE,
        validator: wallet.address,
        report: example,
        signature: typed,
      });
      expect(reportSigner(fast)).to.equal(wallet.address);
    });

    it("an HD wallet signs the digest too", async function () {
      const hd = Wallet.createRandom();
      const signed = await signReport(hd, 7, CORE, widest);
      expect(verifyTypedData(reportDomain(7, CORE), REPORT_TYPES, widest, signed.signature)).to.equal(hd.address);
      expect(reportSigner(signed)).to.equal(hd.address);
    });

    it("a signer without a key at hand (the node's account here) gets the typed data", async function () {
      const [account] = await ethers.getSigners();
      const chainId = Number((await ethers.provider.getNetwork()).chainId);
      const calls: TypedDataDomain[] = [];
      const remote = {
        getAddress: () => account.getAddress(),
        signTypedData: (d: TypedDataDomain, t: typeof REPORT_TYPES, v: ReportBody) => {
          calls.push(d);
          return account.signTypedData(d, t, v);
        },
      };
      const signed = await signReport(remote, chainId, CORE, example);
      expect(calls).to.deep.equal([reportDomain(chainId, CORE)]);
      expect(verifyTypedData(reportDomain(chainId, CORE), REPORT_TYPES, example, signed.signature)).to.equal(
        account.address,
      );
      expect(reportSigner(signed)).to.equal(account.address);
    });

    it("reportSigner recovers someone else from an edited report, and throws on a malformed signature", async function () {
      const signed = await signReport(wallet, CHAIN, CORE, example);
      const edited = { ...signed, report: { ...example, era: 43 } };
      const recovered = reportSigner(edited);
      expect(recovered).to.not.equal(wallet.address);
      expect(recovered).to.equal(
        verifyTypedData(reportDomain(CHAIN, CORE), REPORT_TYPES, edited.report, signed.signature),
      );
      // The same error as ethers' verifyTypedData, which callers catch.
      const zero = "0x" + "00".repeat(65);
      expect(() => reportSigner({ ...signed, signature: zero })).to.throw("r must be 0 < r < CURVE.n");
      expect(() => verifyTypedData(reportDomain(CHAIN, CORE), REPORT_TYPES, example, zero)).to.throw(
        "r must be 0 < r < CURVE.n",
      );
    });

    it("refuses an out-of-range body before signing it", async function () {
      let error: unknown;
      try {
        await signReport(wallet, CHAIN, CORE, withNode({ score: 65_536 }));
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(RangeError);
      expect((error as Error).message).to.equal("nodes[1].score: 65536 is out of range for uint16");
    });
  });
});
