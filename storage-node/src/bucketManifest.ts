import type { ManifestPage } from "./protocol";
import { hashLeaf, merkleRoot, portableSha256, toHex, type Sha256Factory } from "./store/merkle";

/**
 * A bucket's manifest: its live objects sorted by key (byte order of UTF-8), one Merkle leaf per
 * object. The node signs its root in usage records (`USAGE_TYPES`) and manifest pages
 * (`MANIFEST_PAGE_TYPES`); a validator recomputes it from the entries the node lists. Nothing here
 * needs Node or the server (the hash is passed in, as in store/merkle.ts), so a validator imports
 * it alone.
 *
 * A leaf binds everything a challenge answer claims: the UTF-8 bytes of
 * `<key>\n<version>\n<sha256>\n<size>\n<root>` (version and size in decimal, sha256 and root in
 * lowercase hex without 0x), hashed as a leaf (SHA-256(0x00 ‖ bytes)). A bucket without objects
 * has the root of one empty leaf, SHA-256(0x00).
 */

/** One object of a manifest (hashes in hex, with or without 0x: the leaf uses them bare, lowercase). */
export interface ManifestEntry {
  key: string;
  version: bigint;
  sha256: string;
  size: number;
  /** Merkle root over the object's 64 KiB leaves. */
  root: string;
}

const bare = (h: string) => h.toLowerCase().replace(/^0x/, "");

/** The leaf data of one entry: `<key>\n<version>\n<sha256>\n<size>\n<root>`. */
export function manifestLeafData(e: ManifestEntry): string {
  return `${e.key}\n${e.version}\n${bare(e.sha256)}\n${e.size}\n${bare(e.root)}`;
}

/** The leaf hash of one entry: SHA-256(0x00 ‖ UTF-8 of {@link manifestLeafData}). */
export function manifestLeaf(e: ManifestEntry, hash: Sha256Factory = portableSha256): Uint8Array {
  return hashLeaf(new TextEncoder().encode(manifestLeafData(e)), hash);
}

/** The manifest root over `entries` (in the order given: sorted by key), 0x-hex. */
export function manifestRoot(entries: readonly ManifestEntry[], hash: Sha256Factory = portableSha256): string {
  const leaves = entries.length === 0 ? [hashLeaf(new Uint8Array(0), hash)] : entries.map((e) => manifestLeaf(e, hash));
  return `0x${toHex(merkleRoot(leaves, hash))}`;
}

/** The entries of a manifest page as they travel, as {@link ManifestEntry} (version a bigint). */
export function pageEntries(page: Pick<ManifestPage, "entries">): ManifestEntry[] {
  return page.entries.map((e) => ({
    key: e.key,
    version: BigInt(e.version),
    sha256: e.sha256,
    size: e.size,
    root: e.root,
  }));
}

/**
 * The EIP-712 `ManifestPage` message (`MANIFEST_PAGE_TYPES`) of a page asked with `startAfter`
 * ("" for the first page), its `pageRoot` recomputed from the entries: what the node's signature
 * must recover against.
 */
export function manifestPageMessage(
  page: Omit<ManifestPage, "signature">,
  startAfter = "",
  hash: Sha256Factory = portableSha256,
) {
  return {
    node: page.node,
    cluster: page.cluster,
    era: page.era,
    bucket: BigInt(page.bucket),
    objects: page.objects,
    manifestRoot: page.manifestRoot,
    startAfter,
    pageRoot: manifestRoot(pageEntries(page), hash),
    next: page.next ?? "",
  };
}
