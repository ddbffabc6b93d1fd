import { sha256 as nobleSha256 } from "@noble/hashes/sha256";
import { verifyTypedData, type TypedDataDomain, type TypedDataField } from "ethers";
import { LEAF_BYTES, RECEIPT_TYPES, type SignedReceipt } from "../src/protocol";

/** SHA-256 over the concatenation of `parts` (the Node entry passes node:crypto's, which is faster). */
export type Sha256 = (...parts: Uint8Array[]) => Uint8Array;

/** The portable SHA-256 (@noble/hashes). */
export const portableSha256: Sha256 = (...parts) => {
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
};

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A hash as the client compares it: lower-case hex without `0x`. */
export function normHex(h: string): string {
  return h.toLowerCase().replace(/^0x/, "");
}

const LEAF = new Uint8Array([0]);
const INNER = new Uint8Array([1]);

/** The Merkle leaf hashes of `data` (SHA-256(0x00 ‖ 64 KiB chunk)); `offset` must be leaf-aligned. */
export function leafHashes(sha256: Sha256, data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += LEAF_BYTES) out.push(sha256(LEAF, data.subarray(i, i + LEAF_BYTES)));
  return out;
}

/** The root over leaf hashes: inner = SHA-256(0x01 ‖ l ‖ r), an odd last node promoted as is. */
export function merkleRoot(sha256: Sha256, leaves: Uint8Array[]): Uint8Array | undefined {
  if (leaves.length === 0) return undefined;
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(sha256(INNER, level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

export function fromHex(h: string): Uint8Array {
  const s = normHex(h);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The address that signed a receipt (EIP-712 `Receipt` in the storage domain). */
export function receiptSigner(domain: TypedDataDomain, r: SignedReceipt): string {
  const value = {
    node: r.node,
    bucket: BigInt(r.bucket),
    key: r.key,
    version: BigInt(r.version),
    sha256: `0x${normHex(r.sha256)}`,
    size: r.size,
  };
  return verifyTypedData(domain, RECEIPT_TYPES as unknown as Record<string, TypedDataField[]>, value, r.signature);
}
