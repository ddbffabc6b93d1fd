import { createHash } from "node:crypto";
import { fetch as undiciFetch } from "undici";
import { DdcStorageClient, type FetchLike, type StorageClientOptions } from "./client";
import type { Sha256Factory } from "../src/store/merkle";

export * from "./index";

/** node:crypto's SHA-256 (several times faster than the portable one). */
export const nodeSha256: Sha256Factory = () => createHash("sha256");

/** A client for Node: undici's fetch and node:crypto's SHA-256 unless `options` says otherwise. */
export function createStorageClient(options: StorageClientOptions): DdcStorageClient {
  return new DdcStorageClient({
    fetch: undiciFetch as unknown as FetchLike,
    sha256: nodeSha256,
    ...options,
  });
}
