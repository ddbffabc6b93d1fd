import { createHash } from "node:crypto";
import { fetch as undiciFetch } from "undici";
import { DdcStorageClient, type FetchLike, type StorageClientOptions } from "./client";
import type { Sha256 } from "./verify";

export * from "./index";

/** node:crypto's SHA-256 (several times faster than the portable one). */
export const nodeSha256: Sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** A client for Node: undici's fetch and node:crypto's SHA-256 unless `options` says otherwise. */
export function createStorageClient(options: StorageClientOptions): DdcStorageClient {
  return new DdcStorageClient({
    fetch: undiciFetch as unknown as FetchLike,
    sha256: nodeSha256,
    ...options,
  });
}
