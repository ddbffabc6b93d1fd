import { verifyTypedData, type TypedDataDomain, type TypedDataField } from "ethers";
import { RECEIPT_TYPES, receiptMessage, type SignedReceipt } from "../src/protocol";
import type { Sha256Factory } from "../src/store/merkle";

/** The whole of `data` hashed with `sha256`, lower-case hex. */
export function sha256Hex(sha256: Sha256Factory, data: Uint8Array): string {
  const h = sha256();
  h.update(data);
  return toHexBytes(h.digest());
}

function toHexBytes(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A hash as the client compares it: lower-case hex without `0x`. */
export function normHex(h: string): string {
  return h.toLowerCase().replace(/^0x/, "");
}

/** The address that signed a receipt (EIP-712 `Receipt` in the storage domain). */
export function receiptSigner(domain: TypedDataDomain, r: SignedReceipt): string {
  const value = receiptMessage(r.node, { ...r, bucket: BigInt(r.bucket), version: BigInt(r.version) });
  return verifyTypedData(domain, RECEIPT_TYPES as unknown as Record<string, TypedDataField[]>, value, r.signature);
}
