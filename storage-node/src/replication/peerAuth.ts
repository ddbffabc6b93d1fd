import { createPublicKey, verify } from "node:crypto";
import { verifyTypedData, type TypedDataDomain } from "ethers";
import { z } from "zod";
import { HEADER, MAX_REQUEST_TTL_S, NODE_SESSION_TYPES, canonicalRequest } from "../protocol";
import type { ClusterSource } from "./ports";

/** A peer that proved it is node `node`. */
export interface NodePrincipal {
  kind: "node";
  node: number;
}

export class PeerAuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: "unauthenticated" | "session-expired" | "request-expired" | "bad-signature" | "replayed",
    message: string,
  ) {
    super(message);
  }
}

const NodeTokenSchema = z.object({
  kind: z.literal("node"),
  node: z.number().int().positive(),
  sessionKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  expiry: z.number().int().positive(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body's hex SHA-256 as received (the empty body's for requests without one). */
  bodySha256: string;
}

function header(h: SignedRequest["headers"], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Checks a peer's request: its `NodeSession` signed by the node's registered key (the result cached
 * until the session expires), the ed25519 signature of the request, its expiry and nonce.
 */
export class PeerAuthenticator {
  private readonly sessions = new Map<string, { node: number; expiry: number }>();
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly chain: ClusterSource,
    private readonly domain: TypedDataDomain,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async authenticate(req: SignedRequest): Promise<NodePrincipal> {
    const raw = header(req.headers, HEADER.session);
    const sig = header(req.headers, HEADER.signature);
    const expiresText = header(req.headers, HEADER.expires);
    if (!raw || !sig || !expiresText) throw new PeerAuthError(401, "unauthenticated", "a signed node session is required");
    let token: z.infer<typeof NodeTokenSchema>;
    try {
      token = NodeTokenSchema.parse(JSON.parse(Buffer.from(raw, "base64url").toString("utf8")));
    } catch {
      throw new PeerAuthError(401, "unauthenticated", "not a node session");
    }
    const now = this.now();
    if (token.expiry <= now) throw new PeerAuthError(401, "session-expired", "the node session expired");
    const cached = this.sessions.get(raw);
    if (!cached) {
      const info = await this.chain.node(token.node);
      let signer: string;
      try {
        signer = verifyTypedData(
          this.domain,
          NODE_SESSION_TYPES as unknown as Record<string, { name: string; type: string }[]>,
          { node: token.node, sessionKey: token.sessionKey, expiry: token.expiry },
          token.signature,
        );
      } catch {
        throw new PeerAuthError(401, "bad-signature", "the session signature does not verify");
      }
      if (signer.toLowerCase() !== info.signingKey.toLowerCase())
        throw new PeerAuthError(401, "bad-signature", `the session is not signed by node ${token.node}'s key`);
      this.sessions.set(raw, { node: token.node, expiry: token.expiry });
    }
    const expires = Number(expiresText);
    if (!Number.isSafeInteger(expires) || expires <= now || expires > now + MAX_REQUEST_TTL_S)
      throw new PeerAuthError(401, "request-expired", "the request expired or expires too late");
    const nonce = header(req.headers, HEADER.nonce);
    const canonical = canonicalRequest({
      method: req.method,
      target: req.url,
      bodySha256: req.bodySha256,
      expires,
      nonce,
    });
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(token.sessionKey.slice(2), "hex").toString("base64url") },
      format: "jwk",
    });
    if (!verify(null, Buffer.from(canonical, "utf8"), key, Buffer.from(sig, "base64url")))
      throw new PeerAuthError(401, "bad-signature", "the request signature does not verify");
    if (req.method !== "GET") {
      if (!nonce) throw new PeerAuthError(401, "unauthenticated", "a write needs a nonce");
      this.sweep(now);
      if (this.nonces.has(nonce)) throw new PeerAuthError(401, "replayed", "the nonce was already used");
      this.nonces.set(nonce, expires);
    }
    return { kind: "node", node: token.node };
  }

  private sweep(now: number): void {
    if (this.nonces.size < 10_000) return;
    for (const [n, exp] of this.nonces) if (exp <= now) this.nonces.delete(n);
    for (const [t, s] of this.sessions) if (s.expiry <= now) this.sessions.delete(t);
  }
}
