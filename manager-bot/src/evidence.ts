import canonicalize from "canonicalize";
import { keccak256 } from "ethers";

/**
 * The evidence of a decision: a JSON document of its inputs (the reports, the snapshot block, the
 * policy parameters, earlier evidence relied on), the aggregation and the resulting actions,
 * serialised canonically (RFC 8785, JSON Canonicalization Scheme), whose keccak256 goes on chain
 * with the action. Anyone holding the document recomputes the hash, and the decision.
 * Integers beyond 2^53 are written as decimal strings (bigints are converted here).
 */
export function canonicalJson(document: unknown): string {
  const text = canonicalize(plain(document));
  if (text === undefined) throw new Error("the evidence document cannot be serialised");
  return text;
}

/** The keccak256 of a canonical JSON text (its UTF-8 bytes). */
export function hashOfJson(json: string): string {
  return keccak256(Buffer.from(json, "utf8"));
}

export function evidenceHash(document: unknown): string {
  return hashOfJson(canonicalJson(document));
}

/**
 * The value with every bigint written as a decimal string. Subtrees without a bigint are returned
 * as they are (no copy: the evidence of a large era holds hundreds of thousands of objects).
 */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = plain(value[i]);
      if (v !== value[i]) (out ??= [...value])[i] = v;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const p = plain(v);
    if (p !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = p;
  }
  return out ?? value;
}
