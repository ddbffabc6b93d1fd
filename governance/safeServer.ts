import Fastify, { type FastifyInstance } from "fastify";
import { getAddress } from "ethers";
import { z } from "zod";
import {
  signatureSchema,
  storedTxSchema,
  type OwnerSignature,
  type SafeQueue,
  type SignatureStore,
  type StoredTx,
  type StoredTxWithSignatures,
} from "./safeStore";

/**
 * The signature store over HTTP, for owners who do not share a directory: a small fastify server
 * in front of any store, which checks every transaction and signature against the chain (through
 * a {SafeQueue}) before keeping it, and a client with the same interface as a local store.
 *
 *   GET  /safes/:safe/transactions                    the Safe's transactions with their signatures
 *   GET  /safes/:safe/transactions/:hash              one of them
 *   POST /safes/:safe/transactions                    a transaction with its first owner's signature
 *                                                     ({ chainId, safe, safeTxHash, data, description?, signature: { owner, signature } })
 *   POST /safes/:safe/transactions/:hash/signatures   a signature ({ owner, signature })
 *
 * A refused input answers 400 with `{ error }` naming the reason; an unknown Safe or hash, 404.
 */
export function createSignatureServer(options: {
  store: SignatureStore;
  queueFor: (safe: string) => SafeQueue;
  bodyLimit?: number;
}): FastifyInstance {
  const app = Fastify({ bodyLimit: options.bodyLimit ?? 64 * 1024, logger: false });
  const safeParam = z.object({ safe: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "a Safe address") });
  const hashParam = safeParam.extend({ hash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 32-byte hash") });
  // A transaction comes with its first owner's signature: nobody else can put one in the store.
  const submissionSchema = storedTxSchema.extend({ signature: signatureSchema });
  const bad = (message: string) => Object.assign(new Error(message), { statusCode: 400 });
  const parse = <T>(schema: z.ZodType<T>, value: unknown, what: string): T => {
    const r = schema.safeParse(value);
    if (!r.success) {
      const i = r.error.issues[0];
      throw bad(`${what}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    }
    return r.data;
  };
  app.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
    const status = error.statusCode ?? (/^no transaction/.test(error.message) ? 404 : 400);
    void reply.status(status).send({ error: error.message });
  });

  app.get("/safes/:safe/transactions", async (req) => {
    const { safe } = parse(safeParam, req.params, "path");
    return options.store.list(safe);
  });
  app.get("/safes/:safe/transactions/:hash", async (req, reply) => {
    const { safe, hash } = parse(hashParam, req.params, "path");
    const tx = await options.store.get(safe, hash.toLowerCase());
    if (tx === undefined)
      return reply.status(404).send({ error: `no transaction ${hash} for Safe ${getAddress(safe)}` });
    return tx;
  });
  app.post("/safes/:safe/transactions", async (req) => {
    const { safe } = parse(safeParam, req.params, "path");
    const { signature, ...tx } = parse(submissionSchema, req.body, "transaction");
    if (getAddress(tx.safe) !== getAddress(safe)) throw bad(`the transaction is for Safe ${tx.safe}, not ${safe}`);
    return options.queueFor(safe).submit(tx, signature);
  });
  app.post("/safes/:safe/transactions/:hash/signatures", async (req) => {
    const { safe, hash } = parse(hashParam, req.params, "path");
    const s = parse(signatureSchema, req.body, "signature");
    await options.queueFor(safe).addSignature(hash.toLowerCase(), s.owner, s.signature);
    return { ok: true };
  });
  return app;
}

/** The HTTP store, seen from an owner's side: the same interface as a local store. */
export class HttpSignatureStore implements SignatureStore {
  constructor(private readonly baseUrl: string) {}

  private async request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T | undefined> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new Error(`the signature store at ${this.baseUrl} cannot be reached: ${(error as Error).message}`);
    }
    if (response.status === 404 && method === "GET") return undefined;
    const json = (await response.json().catch(() => ({}))) as { error?: string };
    if (!response.ok) throw new Error(json.error ?? `the signature store answered ${response.status}`);
    return json as T;
  }

  async putTransaction(tx: StoredTx, first: OwnerSignature): Promise<void> {
    await this.request("POST", `/safes/${getAddress(tx.safe)}/transactions`, { ...tx, signature: first });
  }

  async putSignature(safe: string, safeTxHash: string, owner: string, signature: string): Promise<void> {
    await this.request("POST", `/safes/${getAddress(safe)}/transactions/${safeTxHash}/signatures`, {
      owner,
      signature,
    });
  }

  async get(safe: string, safeTxHash: string): Promise<StoredTxWithSignatures | undefined> {
    return this.request<StoredTxWithSignatures>("GET", `/safes/${getAddress(safe)}/transactions/${safeTxHash}`);
  }

  async list(safe: string): Promise<StoredTxWithSignatures[]> {
    return (await this.request<StoredTxWithSignatures[]>("GET", `/safes/${getAddress(safe)}/transactions`)) ?? [];
  }
}
