import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Provider, Signer, TypedDataDomain } from "ethers";
import {
  encodeSessionToken,
  newSessionKey as newKey,
  signAppSession,
  signRequest as signWith,
  signValidatorSession,
  type SessionKeyPair,
} from "../../../storage-node/src/auth/sign";
import { RequestAuthenticator } from "../../../storage-node/src/auth/verify";
import { ChainView } from "../../../storage-node/src/chain";
import { openNodeStore, type PersistentNodeStore } from "../../../storage-node/src/nodeStore";

/**
 * What the server's tests share: the node's real parts on a temporary directory and the Hardhat
 * chain (the persistent store, the chain view, the request authenticator), and requests signed
 * as a client signs them (storage-node/src/auth/sign.ts).
 */

export type SessionKey = SessionKeyPair;
export const newSessionKey = newKey;

/** An app session, as it travels in `x-ddc-session`. */
export async function appSession(
  wallet: Signer,
  domain: TypedDataDomain,
  o: { bucket: bigint; key: SessionKey; operations: number; expiry: number },
): Promise<string> {
  const token = await signAppSession(wallet, domain, {
    bucket: o.bucket,
    sessionKey: o.key.publicKey,
    operations: o.operations,
    expiry: o.expiry,
  });
  return encodeSessionToken(token);
}

/** A validator session, as it travels in `x-ddc-session`. */
export async function validatorSession(
  wallet: Signer,
  domain: TypedDataDomain,
  o: { cluster: number; key: SessionKey; expiry: number },
): Promise<string> {
  const token = await signValidatorSession(wallet, domain, {
    cluster: o.cluster,
    sessionKey: o.key.publicKey,
    expiry: o.expiry,
  });
  return encodeSessionToken(token);
}

/**
 * The headers of a signed request to node `node` (1 unless given; a nonce when the method needs
 * one, unless `nonce: false`); a PUT's `contentType` is signed and sent.
 */
export function signRequest(
  session: string,
  key: SessionKey,
  r: {
    method: string;
    target: string;
    body?: Buffer | string;
    expires: number;
    nonce?: boolean;
    node?: number;
    contentType?: string;
    version?: string;
  },
): Record<string, string> {
  const bodySha256 = r.body === undefined ? undefined : createHash("sha256").update(Buffer.from(r.body)).digest("hex");
  const headers = signWith({
    privateKey: key.privateKey,
    sessionToken: session,
    node: r.node ?? 1,
    method: r.method,
    target: r.target,
    bodySha256,
    contentType: r.contentType,
    version: r.version,
    expires: r.expires,
  });
  if (r.nonce === false) delete headers["x-ddc-nonce"];
  return headers;
}

/** The node's parts on a fresh temporary directory: close() stops the view and removes the directory. */
export async function realParts(o: {
  provider: Provider;
  core: string;
  domain: TypedDataDomain;
  nodeId: number;
  /** Cache lifetime of chain reads (ms): 0 reads the chain each time. */
  ttlMs?: number;
}): Promise<{
  dir: string;
  store: PersistentNodeStore;
  view: ChainView;
  auth: RequestAuthenticator;
  close(): void;
}> {
  const dir = mkdtempSync(join(tmpdir(), "ddc-node-test-"));
  const { store } = await openNodeStore({ dir, blobs: { kind: "fs" } });
  const view = new ChainView({ provider: o.provider, core: o.core, ttlMs: o.ttlMs ?? 0 });
  await view.poll();
  const auth = new RequestAuthenticator({
    chain: view,
    domain: o.domain,
    nodeId: o.nodeId,
    seenNonce: (k, n, e, now) => !store.useNonce(k, n, e, now),
  });
  return {
    dir,
    store,
    view,
    auth,
    close() {
      view.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
