import { z } from "zod";
import { MAX_OBJECT_BYTES } from "../src/protocol";

/**
 * An object larger than {@link MAX_OBJECT_BYTES} is stored as parts `<key>.part-00001`, … of at
 * most that size and a manifest at `<key>`: JSON, stored with this content type, that `get`
 * follows.
 */
export const MANIFEST_CONTENT_TYPE = "application/vnd.ddc.manifest+json";

/** The manifest's format (JSON). Sizes in bytes; hashes SHA-256, lower-case hex. */
export const manifestSchema = z.strictObject({
  format: z.literal("ddc-manifest"),
  version: z.literal(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  partSize: z.number().int().positive().max(MAX_OBJECT_BYTES),
  parts: z
    .array(
      z.strictObject({
        key: z.string().min(1),
        size: z.number().int().positive(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** The key of part `n` (from 1) of `key`: `<key>.part-00001`. */
export function partKey(key: string, n: number): string {
  return `${key}.part-${String(n).padStart(5, "0")}`;
}

/** The byte ranges `[start, end)` of the parts of `size` bytes. */
export function partRanges(size: number, partSize = MAX_OBJECT_BYTES): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < size; start += partSize) out.push([start, Math.min(size, start + partSize)]);
  return out;
}

/**
 * Reads a manifest, checking it describes `key` consistently: its parts are `partKey(key, 1…)`,
 * each but the last exactly `partSize`, and their sizes add up. Throws a message saying what is
 * wrong.
 */
export function parseManifest(key: string, bytes: Uint8Array): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`the manifest of ${key} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`the manifest of ${key} is malformed: ${parsed.error.issues[0].message}`);
  const m = parsed.data;
  let total = 0;
  m.parts.forEach((p, i) => {
    if (p.key !== partKey(key, i + 1)) throw new Error(`the manifest of ${key} names part ${i + 1} ${p.key}`);
    if (i < m.parts.length - 1 && p.size !== m.partSize)
      throw new Error(`the manifest of ${key}: part ${i + 1} has ${p.size} bytes, not ${m.partSize}`);
    total += p.size;
  });
  if (total !== m.size) throw new Error(`the manifest of ${key}: its parts add up to ${total} bytes, not ${m.size}`);
  return m;
}

/** The manifest's bytes (JSON, keys in a fixed order). */
export function encodeManifest(m: Manifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}
