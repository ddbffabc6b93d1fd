import { sha256 as nobleSha256 } from "@noble/hashes/sha256";
import { LEAF_BYTES } from "../protocol";

/**
 * The Merkle tree over an object's content, shared by the node and its client (also in a browser:
 * nothing here needs Node beyond the hash, which is passed in).
 *
 * - The content is cut into {@link LEAF_BYTES} chunks (the last may be shorter; an empty object has
 *   one empty chunk).
 * - leaf = SHA-256(0x00 ‖ chunk); inner = SHA-256(0x01 ‖ left ‖ right). The prefixes keep a leaf
 *   from ever being taken for an inner node (second-preimage attacks).
 * - The tree is built level by level; an odd last node is promoted to the next level unchanged.
 * - A proof lists the sibling hashes from the leaf up; a level where the node was promoted adds
 *   none, so a verifier needs the leaf count to replay the path.
 */

/** An incremental SHA-256 (node:crypto's `createHash("sha256")` and @noble/hashes' both fit). */
export interface Sha256State {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

/** Makes a fresh SHA-256 state. */
export type Sha256Factory = () => Sha256State;

/** SHA-256 in plain JavaScript (@noble/hashes): works everywhere; the node passes node:crypto's, ~9x faster. */
export const portableSha256: Sha256Factory = () => nobleSha256.create();

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);

/** Lowercase hex without 0x. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of a hex string (with or without 0x); throws on anything else. */
export function fromHex(hex: string): Uint8Array {
  const h = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new Error(`not a hex string: ${hex}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const asBytes = (x: Uint8Array | string): Uint8Array => (typeof x === "string" ? fromHex(x) : x);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** SHA-256(0x00 ‖ chunk): the hash of one leaf. */
export function hashLeaf(chunk: Uint8Array, hash: Sha256Factory = portableSha256): Uint8Array {
  const h = hash();
  h.update(LEAF_PREFIX);
  h.update(chunk);
  return h.digest();
}

/** SHA-256(0x01 ‖ left ‖ right): the hash of an inner node. */
export function hashInner(left: Uint8Array, right: Uint8Array, hash: Sha256Factory = portableSha256): Uint8Array {
  const h = hash();
  h.update(NODE_PREFIX);
  h.update(left);
  h.update(right);
  return h.digest();
}

/** How many leaves an object of `size` bytes has (at least one). */
export function leafCount(size: number): number {
  return Math.max(1, Math.ceil(size / LEAF_BYTES));
}

/** The leaf hashes of a whole content. */
export function leafHashes(content: Uint8Array, hash: Sha256Factory = portableSha256): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < content.length || out.length === 0; at += LEAF_BYTES) {
    out.push(hashLeaf(content.subarray(at, Math.min(at + LEAF_BYTES, content.length)), hash));
  }
  return out;
}

/** What a {@link LeafHasher} gives at the end. */
export interface LeafDigest {
  /** SHA-256 of the whole content, lowercase hex. */
  sha256: string;
  size: number;
  leaves: Uint8Array[];
}

/**
 * Hashes a content fed in pieces of any size: the SHA-256 of the whole and the leaf hashes, in
 * one pass. A partial leaf is kept (at most {@link LEAF_BYTES}) until it fills.
 */
export class LeafHasher {
  private readonly whole: Sha256State;
  private readonly leaves: Uint8Array[] = [];
  private leaf: Sha256State;
  private inLeaf = 0;
  private total = 0;
  private done = false;

  constructor(private readonly hash: Sha256Factory = portableSha256) {
    this.whole = hash();
    this.leaf = this.newLeaf();
  }

  private newLeaf(): Sha256State {
    const h = this.hash();
    h.update(LEAF_PREFIX);
    return h;
  }

  /** Bytes fed so far. */
  get size(): number {
    return this.total;
  }

  update(data: Uint8Array): this {
    if (this.done) throw new Error("LeafHasher: update after final");
    this.whole.update(data);
    this.total += data.length;
    let at = 0;
    while (at < data.length) {
      const take = Math.min(LEAF_BYTES - this.inLeaf, data.length - at);
      this.leaf.update(data.subarray(at, at + take));
      this.inLeaf += take;
      at += take;
      if (this.inLeaf === LEAF_BYTES) {
        this.leaves.push(this.leaf.digest());
        this.leaf = this.newLeaf();
        this.inLeaf = 0;
      }
    }
    return this;
  }

  final(): LeafDigest {
    if (this.done) throw new Error("LeafHasher: final called twice");
    this.done = true;
    // The trailing partial leaf, or the single empty leaf of an empty content.
    if (this.inLeaf > 0 || this.leaves.length === 0) this.leaves.push(this.leaf.digest());
    return { sha256: toHex(this.whole.digest()), size: this.total, leaves: this.leaves };
  }
}

/** The root over leaf hashes (at least one). */
export function merkleRoot(leaves: readonly Uint8Array[], hash: Sha256Factory = portableSha256): Uint8Array {
  if (leaves.length === 0) throw new Error("merkleRoot: no leaves (an empty object has one leaf)");
  let level = [...leaves];
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? hashInner(level[i], level[i + 1], hash) : level[i]);
    }
    level = next;
  }
  return level[0];
}

/** The sibling hashes from leaf `index` up to the root (none for a promoted node). */
export function merkleProof(
  leaves: readonly Uint8Array[],
  index: number,
  hash: Sha256Factory = portableSha256,
): Uint8Array[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`merkleProof: leaf ${index} out of range (${leaves.length} leaves)`);
  }
  const proof: Uint8Array[] = [];
  let level = [...leaves];
  let i = index;
  while (level.length > 1) {
    const sibling = i ^ 1;
    if (sibling < level.length) proof.push(level[sibling]);
    const next: Uint8Array[] = [];
    for (let j = 0; j < level.length; j += 2) {
      next.push(j + 1 < level.length ? hashInner(level[j], level[j + 1], hash) : level[j]);
    }
    level = next;
    i >>= 1;
  }
  return proof;
}

/** A proof to check: hashes as bytes or hex. */
export interface MerkleProofInput {
  leafHash: Uint8Array | string;
  index: number;
  count: number;
  proof: readonly (Uint8Array | string)[];
  root: Uint8Array | string;
}

/** Whether `proof` takes leaf `index` of `count` to `root`; false (never throws) on any malformed input. */
export function verifyMerkleProof(p: MerkleProofInput, hash: Sha256Factory = portableSha256): boolean {
  try {
    if (!Number.isSafeInteger(p.count) || p.count < 1) return false;
    if (!Number.isSafeInteger(p.index) || p.index < 0 || p.index >= p.count) return false;
    let node = asBytes(p.leafHash);
    if (node.length !== 32) return false;
    let i = p.index;
    let n = p.count;
    let used = 0;
    while (n > 1) {
      if (i % 2 === 1) {
        if (used >= p.proof.length) return false;
        node = hashInner(asBytes(p.proof[used++]), node, hash);
      } else if (i + 1 < n) {
        if (used >= p.proof.length) return false;
        node = hashInner(node, asBytes(p.proof[used++]), hash);
      }
      i = Math.floor(i / 2);
      n = Math.ceil(n / 2);
    }
    return used === p.proof.length && equalBytes(node, asBytes(p.root));
  } catch {
    return false;
  }
}
