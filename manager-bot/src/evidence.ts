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
  const plain = JSON.parse(JSON.stringify(document, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
  const text = canonicalize(plain);
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
