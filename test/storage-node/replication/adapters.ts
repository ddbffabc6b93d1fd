import type { Readable } from "node:stream";
import type { ChainView } from "../../../storage-node/src/chain";
import { keyToken, replicasFor } from "../../../storage-node/src/placement";
import type { NodeChain, NodeStore, ObjectRecord } from "../../../storage-node/src/ports";
import type { ObjectStore } from "../../../storage-node/src/store/objects";

/*
 * The server's ports over the store and the chain view, as tests wire them (in-process and in the
 * node processes of the multi-process test): only what replication exercises is real.
 */

/** The server's store port over the object store (what the node's composition root wires). */
export function nodeStoreOf(objects: ObjectStore): NodeStore {
  const meta = objects.meta;
  const full = (r: ObjectRecord) => meta.get(r.bucket, r.key)!;
  return {
    get: (b, k) => meta.get(b, k),
    put: async (b, k, token, body: Readable, o) => {
      const r = await objects.put(b, k, token, body, {
        version: o.version,
        maxBytes: o.maxBytes,
        expectedSha256: o.expectedSha256,
      });
      return r.applied ? r : (meta.get(b, k) ?? r);
    },
    delete: (b, k, token, version) => {
      void objects.delete(b, k, token, version);
      return meta.get(b, k)!;
    },
    read: (r, start, end) => objects.read(full(r), start, end - 1),
    stream: (r, start, end) => objects.stream(full(r), start, end - 1),
    leaves: async (r) => full(r).leaves,
    list: (b, o) => meta.list(b, o),
    storedBytes: (b) => meta.storedBytes(b),
    manifest: () => [],
    buckets: () => [],
    addUsage: () => {},
    usage: () => undefined,
    closeEra: () => {},
    health: () => ({ quarantined: 0, repairs: 0, hints: 0 }),
    scrub: async () => ({ checked: 0, corrupt: 0 }),
    close: () => meta.close(),
  };
}

/** The server's chain port over the chain view. */
export function nodeChainOf(chain: ChainView): NodeChain {
  return {
    bucketCluster: async (bucket) => (await chain.bucket(bucket))!.cluster,
    replicas: async (bucket, key) => {
      const b = (await chain.bucket(bucket))!;
      const c = (await chain.cluster(b.cluster))!;
      const ids = replicasFor(c.ring, c.replicationFactor, c.nodes.length, key);
      const nodes = await Promise.all(ids.map(async (id) => ({ id, url: (await chain.node(id))!.urls[0] })));
      return { cluster: c.id, token: keyToken(key), nodes };
    },
    era: async () => ({ era: 1, start: 0, end: 2 ** 31 }),
    ping: async () => {},
  };
}
