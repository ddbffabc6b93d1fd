// The client's isomorphic entry (also the browser bundle's): no Node built-ins here.
export { DdcStorageClient } from "./client";
export type {
  BucketRef,
  ByteRange,
  FetchLike,
  FetchResponse,
  ObjectHead,
  PutOutcome,
  Session,
  SessionOptions,
  StorageClientOptions,
} from "./client";
export { ChainDirectory, StaticDirectory, sortRing } from "./directory";
export type { ClusterDirectory, ClusterMap, NodeInfo } from "./directory";
export { ClientErrorCode, StorageClientError } from "./errors";
export { MANIFEST_CONTENT_TYPE, manifestSchema, partKey, parseManifest } from "./manifest";
export type { Manifest } from "./manifest";
export { keyToken, replicasFor } from "../src/placement";
export type { Ring } from "../src/placement";
export { ALL_OPS, MAX_OBJECT_BYTES, Op } from "../src/protocol";
export type { ListResult, ObjectInfo, PutResult, SignedReceipt } from "../src/protocol";
// A page loading only the bundle needs a provider for the core's views and the wallet.
export { BrowserProvider, JsonRpcProvider } from "ethers";
