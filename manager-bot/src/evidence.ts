import { keccak256 } from "ethers";
import { createKeccak, type IHasher } from "hash-wasm";

/**
 * The evidence of a decision: a JSON document of its inputs (the reports, the snapshot block, the
 * policy parameters, earlier evidence relied on), the aggregation and the resulting actions,
 * serialised canonically (RFC 8785, JSON Canonicalization Scheme), whose keccak256 goes on chain
 * with the action. Anyone holding the document recomputes the hash, and the decision.
 * Integers beyond 2^53 are written as decimal strings (bigints are converted here).
 *
 * The serialiser writes exactly what the `canonicalize` package (the RFC's reference for
 * JavaScript) writes, which the tests check on random documents; it exists because the evidence
 * of a large era (100,000 buckets, seven reports) is 40 MB, and building it from flat pieces
 * (`JSON.stringify` of each leaf object, `join` of each array) takes a fraction of the time and
 * memory of a rope of small concatenations.
 */
export function canonicalJson(document: unknown): string {
  const text = serialise(document);
  if (text === undefined) throw new Error("the evidence document cannot be serialised");
  return text;
}

/**
 * hash-wasm's keccak-256, once compiled: ethers' keccak256 (JavaScript) takes seconds over the
 * 38 MiB evidence of a 100,000-bucket era, the WebAssembly one a twentieth of that. Compiling it
 * is asynchronous and `hashOfJson` is not (`decideEra` is synchronous and used everywhere), so
 * the compilation starts when this module loads, `ready()` awaits it, and until then
 * `hashOfJson` falls back to ethers: the same bytes, the same hash (the tests compare both).
 */
let wasmKeccak: IHasher | undefined;
let preparing: Promise<void> | undefined;

/**
 * Resolves once the fast keccak is compiled (the service, the benchmark and the tests await it
 * before deciding anything). Never rejects: without WebAssembly, ethers' keccak256 hashes.
 */
export function ready(): Promise<void> {
  return (preparing ??= createKeccak(256).then(
    (hasher) => {
      wasmKeccak = hasher;
    },
    () => undefined,
  ));
}
void ready();

/** Which keccak `hashOfJson` uses now. */
export function keccakInUse(): "hash-wasm" | "ethers" {
  return wasmKeccak === undefined ? "ethers" : "hash-wasm";
}

/** UTF-16 units encoded at a time, and the buffer they are encoded into (3 bytes a unit at most). */
const CHUNK = 1 << 20;
let scratch: Buffer | undefined;

/** The keccak256 of a canonical JSON text (its UTF-8 bytes), as 0x and 64 lower-case hex digits. */
export function hashOfJson(json: string): string {
  // The same bytes for both: Buffer's UTF-8 (a lone surrogate becomes U+FFFD in each).
  if (wasmKeccak === undefined) return keccak256(Buffer.from(json, "utf8"));
  // Encoded a chunk at a time into one reused buffer: no copy of the whole text (38 MiB for a
  // large era) for the garbage collector. Synchronous from init to digest: no other hash can
  // interleave on this one hasher.
  scratch ??= Buffer.allocUnsafeSlow(3 * CHUNK);
  wasmKeccak.init();
  for (let start = 0; start < json.length;) {
    let end = Math.min(start + CHUNK, json.length);
    // A surrogate pair is never cut: both halves go in the same chunk, as one character.
    const last = json.charCodeAt(end - 1);
    if (end < json.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    const n = scratch.write(json.slice(start, end), "utf8");
    wasmKeccak.update(scratch.subarray(0, n));
    start = end;
  }
  return "0x" + wasmKeccak.digest("hex");
}

export function evidenceHash(document: unknown): string {
  return hashOfJson(canonicalJson(document));
}

/** A primitive as RFC 8785 writes it (ES2015 number and string serialisation: `JSON.stringify`). */
function primitive(value: unknown): string | undefined {
  if (typeof value === "bigint") return `"${value.toString()}"`;
  if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`${value} has no JSON form`);
  return JSON.stringify(value);
}

/** What a value is to the fast paths: not flat, flat, or flat with a bigint in it. */
const NOT_FLAT = 0;
const FLAT = 1;
const FLAT_BIGINT = 2;
type Flatness = typeof NOT_FLAT | typeof FLAT | typeof FLAT_BIGINT;

/** A primitive `JSON.stringify` writes as RFC 8785 does (FLAT), a bigint (FLAT_BIGINT), or neither. */
function leaf(v: unknown): Flatness {
  switch (typeof v) {
    case "string":
    case "boolean":
      return FLAT;
    case "number":
      return Number.isFinite(v) ? FLAT : NOT_FLAT;
    case "bigint":
      return FLAT_BIGINT;
    case "object":
      return v === null ? FLAT : NOT_FLAT;
    default:
      return NOT_FLAT;
  }
}

/**
 * A plain object of primitives (or undefined) whose keys are in canonical order already: the
 * engine's `JSON.stringify` writes exactly its canonical form (FLAT_BIGINT if a value is a bigint,
 * which it writes through `bigintsAsStrings`).
 */
function leafObject(v: unknown): Flatness {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return NOT_FLAT;
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return NOT_FLAT;
  const o = v as Record<string, unknown>;
  let previous: string | undefined;
  let flat: Flatness = FLAT;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return NOT_FLAT;
    if (previous !== undefined && !(previous < k)) return NOT_FLAT;
    const x = o[k];
    if (x !== undefined) {
      const kind = leaf(x);
      if (kind === NOT_FLAT) return NOT_FLAT;
      if (kind === FLAT_BIGINT) flat = FLAT_BIGINT;
    }
    previous = k;
  }
  return flat;
}

/** `JSON.stringify`'s replacer for flat values holding bigints: each written as its decimal string. */
const bigintsAsStrings = (_key: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

/**
 * A flat value (FLAT or FLAT_BIGINT) written by the engine in one call, or undefined when it must
 * be written piece by piece. Flat values with bigints (the aggregation's usage: 100,000 objects
 * with two bigints each) go through the replacer, a fifth of the time of the piecewise path. The
 * engine asks a bigint's `toJSON` before the replacer, and `primitive` never does: with a
 * `toJSON` on bigints (none is defined here) they take the piecewise path.
 */
function stringifyFlat(value: unknown, flat: Flatness): string | undefined {
  if (flat === FLAT) return JSON.stringify(value);
  if (flat === FLAT_BIGINT && typeof (BigInt.prototype as { toJSON?: unknown }).toJSON !== "function") {
    return JSON.stringify(value, bigintsAsStrings);
  }
  return undefined;
}

/**
 * Appends a value's canonical JSON to `out` (one join at the end: no level of the document is
 * copied into the next); false, and nothing appended, for what JSON leaves out (undefined,
 * functions, symbols).
 */
function write(value: unknown, out: string[]): boolean {
  if (value === null || typeof value !== "object") {
    const text = primitive(value);
    if (text === undefined) return false;
    out.push(text);
    return true;
  }
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return write(withJson.toJSON(), out);
  if (Array.isArray(value)) {
    // An array of primitives or of such objects (a report's buckets): one flat string.
    let flat: Flatness = FLAT;
    const flatItems = value.every((v) => {
      const kind = leaf(v) || leafObject(v);
      if (kind === FLAT_BIGINT) flat = FLAT_BIGINT;
      return kind !== NOT_FLAT;
    });
    const text = flatItems ? stringifyFlat(value, flat) : undefined;
    if (text !== undefined) {
      out.push(text);
      return true;
    }
    out.push("[");
    value.forEach((v, i) => {
      if (i > 0) out.push(",");
      if (!write(v, out)) out.push("null");
    });
    out.push("]");
    return true;
  }
  const text = stringifyFlat(value, leafObject(value));
  if (text !== undefined) {
    out.push(text);
    return true;
  }
  const o = value as Record<string, unknown>;
  const sorted = Object.keys(o).sort();
  out.push("{");
  let first = true;
  for (const k of sorted) {
    const mark = out.length;
    out.push(first ? "" : ",", JSON.stringify(k), ":");
    if (write(o[k], out)) first = false;
    else out.length = mark;
  }
  out.push("}");
  return true;
}

function serialise(value: unknown): string | undefined {
  const out: string[] = [];
  return write(value, out) ? out.join("") : undefined;
}
