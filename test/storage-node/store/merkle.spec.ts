import { createHash } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import { LEAF_BYTES } from "../../../storage-node/src/protocol";
import { nodeSha256 } from "../../../storage-node/src/store/blobs";
import {
  fromHex,
  hashLeaf,
  leafCount,
  LeafHasher,
  leafHashes,
  merkleProof,
  merkleRoot,
  toHex,
  verifyMerkleProof,
} from "../../../storage-node/src/store/merkle";

const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const leaf = (chunk: Uint8Array) => sha(Uint8Array.of(0), chunk);
const inner = (l: Uint8Array, r: Uint8Array) => sha(Uint8Array.of(1), l, r);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("storage-node/store/merkle", () => {
  it("an empty object has one leaf, SHA-256(0x00), which is its root", () => {
    const leaves = leafHashes(new Uint8Array(0));
    expect(leaves.map(hex)).to.deep.equal(["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]);
    expect(hex(merkleRoot(leaves))).to.equal("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    expect(leafCount(0)).to.equal(1);
  });

  it("cuts 64 KiB leaves, the last one shorter, and promotes an odd last node unchanged", () => {
    const content = Buffer.alloc(2 * LEAF_BYTES + 5);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
    const l = [
      leaf(content.subarray(0, LEAF_BYTES)),
      leaf(content.subarray(LEAF_BYTES, 2 * LEAF_BYTES)),
      leaf(content.subarray(2 * LEAF_BYTES)),
    ];
    const leaves = leafHashes(content);
    expect(leaves.map(hex)).to.deep.equal(l.map(hex));
    expect(leafCount(content.length)).to.equal(3);
    // Level 1: [H(1‖l0‖l1), l2]; root: H(1‖that‖l2).
    expect(hex(merkleRoot(leaves))).to.equal(hex(inner(inner(l[0], l[1]), l[2])));
    expect(merkleProof(leaves, 2).map(hex)).to.deep.equal([hex(inner(l[0], l[1]))]);
    expect(merkleProof(leaves, 0).map(hex)).to.deep.equal([hex(l[1]), hex(l[2])]);
  });

  it("fixed vector: 'abc' and a 5-leaf tree", () => {
    expect(hex(hashLeaf(Buffer.from("abc")))).to.equal(hex(leaf(Buffer.from("abc"))));
    const l = [0, 1, 2, 3, 4].map((i) => leaf(Uint8Array.of(i)));
    const root = inner(inner(inner(l[0], l[1]), inner(l[2], l[3])), l[4]);
    expect(hex(merkleRoot(l))).to.equal(hex(root));
    expect(merkleProof(l, 4).map(hex)).to.deep.equal([hex(inner(inner(l[0], l[1]), inner(l[2], l[3])))]);
    expect(merkleProof(l, 3).map(hex)).to.deep.equal([hex(l[2]), hex(inner(l[0], l[1])), hex(l[4])]);
  });

  it("node:crypto and the portable hash give the same tree", () => {
    const content = Buffer.alloc(3 * LEAF_BYTES + 1, 0xab);
    const a = leafHashes(content);
    const b = leafHashes(content, nodeSha256);
    expect(a.map(hex)).to.deep.equal(b.map(hex));
    expect(hex(merkleRoot(a))).to.equal(hex(merkleRoot(b, nodeSha256)));
  });

  it("LeafHasher fed in any pieces equals the whole: SHA-256, size, leaves", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * LEAF_BYTES + 17 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
        (size, cuts) => {
          const content = Buffer.alloc(size);
          for (let i = 0; i < size; i++) content[i] = (i * 31 + 7) & 0xff;
          const h = new LeafHasher(nodeSha256);
          let at = 0;
          for (let i = 0; at < size; i++) {
            const n = cuts[i % cuts.length];
            h.update(content.subarray(at, at + n));
            at += n;
          }
          const d = h.final();
          expect(d.size).to.equal(size);
          expect(d.sha256).to.equal(sha(content).toString("hex"));
          expect(d.leaves.map(hex)).to.deep.equal(leafHashes(content).map(hex));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("LeafHasher refuses to be used after final", () => {
    const h = new LeafHasher();
    h.final();
    expect(() => h.update(Uint8Array.of(1))).to.throw("LeafHasher: update after final");
    expect(() => h.final()).to.throw("LeafHasher: final called twice");
  });

  it("every proof verifies; a flipped byte in the leaf, the proof or the root fails", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((count) =>
          fc.record({
            count: fc.constant(count),
            index: fc.integer({ min: 0, max: count - 1 }),
            flipAt: fc.nat(),
            bit: fc.integer({ min: 0, max: 7 }),
            seed: fc.nat(),
          }),
        ),
        ({ count, index, flipAt, bit, seed }) => {
          const leaves = Array.from({ length: count }, (_, i) => leaf(Buffer.from(`${seed}/${i}`)));
          const root = merkleRoot(leaves);
          const proof = merkleProof(leaves, index);
          const ok = { leafHash: leaves[index], index, count, proof, root };
          expect(verifyMerkleProof(ok)).to.equal(true);
          // As hex strings too (a challenge carries them so).
          expect(
            verifyMerkleProof({ ...ok, leafHash: hex(leaves[index]), proof: proof.map(hex), root: hex(root) }),
          ).to.equal(true);
          const flip = (b: Uint8Array) => {
            const c = Uint8Array.from(b);
            c[flipAt % c.length] ^= 1 << bit;
            return c;
          };
          expect(verifyMerkleProof({ ...ok, leafHash: flip(leaves[index]) })).to.equal(false);
          expect(verifyMerkleProof({ ...ok, root: flip(root) })).to.equal(false);
          if (proof.length > 0) {
            const k = flipAt % proof.length;
            expect(verifyMerkleProof({ ...ok, proof: proof.map((p, i) => (i === k ? flip(p) : p)) })).to.equal(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a proof for another index, a wrong count or a wrong length fails without throwing", () => {
    const leaves = [0, 1, 2, 3, 4, 5].map((i) => leaf(Uint8Array.of(i)));
    const root = merkleRoot(leaves);
    const proof = merkleProof(leaves, 2);
    const ok = { leafHash: leaves[2], index: 2, count: 6, proof, root };
    expect(verifyMerkleProof(ok)).to.equal(true);
    expect(verifyMerkleProof({ ...ok, index: 3 })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, count: 3 })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, count: 0 })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, index: 6 })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, index: -1 })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, proof: proof.slice(1) })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, proof: [...proof, leaves[0]] })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, leafHash: "zz" })).to.equal(false);
    expect(verifyMerkleProof({ ...ok, leafHash: leaves[2].subarray(0, 31) })).to.equal(false);
  });

  it("rejects a root of no leaves and a proof of a leaf out of range", () => {
    expect(() => merkleRoot([])).to.throw("merkleRoot: no leaves (an empty object has one leaf)");
    expect(() => merkleProof([leaf(Uint8Array.of(1))], 1)).to.throw("merkleProof: leaf 1 out of range (1 leaves)");
  });

  it("hex helpers round-trip and reject what is not hex", () => {
    expect(toHex(fromHex("0x00ff10"))).to.equal("00ff10");
    expect(() => fromHex("abc")).to.throw("not a hex string: abc");
    expect(() => fromHex("zz")).to.throw("not a hex string: zz");
  });
});
