import { createHash } from "node:crypto";
import { z } from "zod";
import { DdcError } from "../../lib/errors";

/**
 * Fault injection, for the tests and the demo only: the node misbehaves as a failing or dishonest
 * one would, so that validators can be seen to catch it. Off unless the environment variable
 * DDC_NODE_FAULTS holds JSON, read once by startStorageNode (in-process tests pass `faults`
 * instead). The faults:
 *
 * - `dropFraction` (0..1): the keys it selects act as lost: GET, HEAD and challenges of them answer
 *   404 as for a missing object, while they stay in listings, manifests and usage records (a node
 *   that silently lost data);
 * - `wrongBytesFraction` (0..1): challenges of the keys it selects answer the leaf with its first
 *   byte flipped (an empty leaf: one zero byte), the proof and the signature made as usual over the
 *   true leaf hash, so the bytes do not match the hash;
 * - `delayMs`: every /v1/qos/* answer is held this long;
 * - `inflateUsageBytes`: added to every bucket's `storedBytes` in usage records, `objects` and
 *   `manifestRoot` unchanged (a node lying about usage);
 * - `failProbes`: probes answer 503.
 *
 * A fraction selects a key when SHA-256(`<salt><bucket>/<key>`) (bucket in decimal, UTF-8), read
 * as a big-endian integer, mod 10,000 is below round(fraction × 10,000): the salt is "" for
 * `dropFraction` and "wrong-bytes/" for `wrongBytesFraction`, so the two select different keys.
 */

/** The environment variable holding the faults (JSON). */
export const FAULTS_ENV = "DDC_NODE_FAULTS";

export const faultsSchema = z
  .object({
    dropFraction: z.number().min(0).max(1).default(0),
    wrongBytesFraction: z.number().min(0).max(1).default(0),
    delayMs: z.number().int().min(0).max(600_000).default(0),
    inflateUsageBytes: z.number().int().min(0).default(0),
    failProbes: z.boolean().default(false),
  })
  .strict();

/** The faults, every one given (0 or false: off). */
export type NodeFaults = z.output<typeof faultsSchema>;

/** No fault at all. */
export const NO_FAULTS: NodeFaults = faultsSchema.parse({});

/** Faults the node refuses to start with: the message names where they came from. */
export class FaultsError extends DdcError {
  override name = "FaultsError";
}

/** Validates faults (`source` names them in the error); throws a FaultsError listing every problem. */
export function parseFaults(value: unknown, source: string): NodeFaults {
  const r = faultsSchema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(the value)"}: ${i.message}`);
  throw new FaultsError(`${source}: invalid faults: ${problems.join("; ")}`);
}

/** The faults DDC_NODE_FAULTS holds, or undefined when it is unset or empty; a FaultsError when it is not valid. */
export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): NodeFaults | undefined {
  const raw = env[FAULTS_ENV];
  if (raw === undefined || raw.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new FaultsError(`${FAULTS_ENV} is not JSON: ${(error as Error).message}`);
  }
  return parseFaults(json, FAULTS_ENV);
}

/** The faults that are on (for the start-up warning). */
export function activeFaults(f: NodeFaults): Partial<NodeFaults> {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== 0 && v !== false)) as Partial<NodeFaults>;
}

/** Whether a fraction with `salt` selects (bucket, key) (see the rule above). */
export function faultSelects(salt: string, fraction: number, bucket: bigint, key: string): boolean {
  if (fraction <= 0) return false;
  const digest = createHash("sha256").update(`${salt}${bucket}/${key}`, "utf8").digest("hex");
  return BigInt(`0x${digest}`) % 10_000n < BigInt(Math.round(fraction * 10_000));
}

/** Whether (bucket, key) acts as lost (`dropFraction`). */
export function isDropped(f: NodeFaults, bucket: bigint, key: string): boolean {
  return faultSelects("", f.dropFraction, bucket, key);
}

/** Whether challenges of (bucket, key) answer wrong bytes (`wrongBytesFraction`). */
export function hasWrongBytes(f: NodeFaults, bucket: bigint, key: string): boolean {
  return faultSelects("wrong-bytes/", f.wrongBytesFraction, bucket, key);
}
