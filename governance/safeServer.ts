import Fastify, { type FastifyInstance } from "fastify";
import { getAddress } from "ethers";
import { z } from "zod";
import { signerOf, type QueueEntry, type SafeQueue, type SignatureStore, type StoredTx } from "./safeStore";

/**
 * The project's signature server: the part of the Safe Transaction Service API that api-kit uses
 * to propose, confirm and list a Safe's transactions, in front of any store (a directory), so that
 * the same client (safeTxService.ts) runs against it offline and in tests as against Safe's own
 * service. Every transaction and signature is checked against the chain (through a {SafeQueue})
 * before it is kept: a transaction only with a valid owner's signature on it.
 *
 *   GET  /api/v1/about/                                       what this server is
 *   GET  /api/v1/safes/{safe}/                                the Safe: nonce, owners, threshold…
 *   GET  /api/v2/safes/{safe}/multisig-transactions/          its transactions (executed, nonce,
 *                                                             nonce__gte/gt/lte/lt, has_confirmations,
 *                                                             ordering, limit, offset)
 *   POST /api/v2/safes/{safe}/multisig-transactions/          a transaction with its proposer's signature
 *   GET  /api/v2/multisig-transactions/{safeTxHash}/          one of them (also under /api/v1)
 *   GET  /api/v1/multisig-transactions/{safeTxHash}/confirmations/
 *   POST /api/v1/multisig-transactions/{safeTxHash}/confirmations/   an owner's signature ({ signature })
 *
 * A refused input answers 400 with `{ detail }` naming the reason (api-kit's error message); an
 * unknown Safe or transaction, 404.
 */
export function createSignatureServer(options: {
  store: SignatureStore;
  queueFor: (safe: string) => SafeQueue;
  bodyLimit?: number;
}): FastifyInstance {
  const app = Fastify({ bodyLimit: options.bodyLimit ?? 64 * 1024, logger: false });
  const failure = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });
  const parse = <T>(schema: z.ZodType<T>, value: unknown, what: string): T => {
    const r = schema.safeParse(value);
    if (!r.success) {
      const i = r.error.issues[0];
      throw failure(400, `${what}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    }
    return r.data;
  };
  /** A refusal of the queue (a check failed) is the client's: 400, or 404 for an unknown transaction. */
  const refusal = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (error) {
      const e = error as Error & { statusCode?: number };
      if (e.statusCode !== undefined) throw e;
      throw failure(/^no transaction/.test(e.message) ? 404 : 400, e.message);
    }
  };
  app.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
    void reply.status(error.statusCode ?? 500).send({ detail: error.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ detail: `no such endpoint: ${req.method} ${req.url.split("?")[0]}` });
  });

  const safeParam = z.object({ safe: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "a Safe address") });
  const hashParam = z.object({ hash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 32-byte hash") });
  const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address");
  const uint = z.union([z.string().regex(/^\d+$/, "a decimal integer"), z.number().int().nonnegative()]);
  const signature = z
    .string({ error: "required: an owner's 65-byte signature" })
    .regex(/^0x[0-9a-fA-F]{130}$/, "an owner's 65-byte signature (0x + 130 hex digits)");
  const proposalSchema = z.object({
    to: address,
    value: uint,
    data: z
      .string()
      .regex(/^0x([0-9a-fA-F]{2})*$/, "hex bytes")
      .nullish(),
    operation: z.union([z.literal(0), z.literal(1)]),
    safeTxGas: uint,
    baseGas: uint,
    gasPrice: uint,
    gasToken: address,
    refundReceiver: address.nullish(),
    nonce: uint,
    contractTransactionHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 32-byte hash"),
    sender: address,
    signature,
    origin: z.string().max(10_000).nullish(),
  });
  const flag = z
    .enum(["true", "false", "True", "False", "1", "0"], { error: "true or false" })
    .transform((v) => /^(true|1)$/i.test(v));
  const count = z.string().regex(/^\d+$/, "a non-negative integer").transform(Number);
  const listQuery = z.object({
    executed: flag.optional(),
    has_confirmations: flag.optional(),
    trusted: flag.optional(),
    nonce: count.optional(),
    nonce__gte: count.optional(),
    nonce__gt: count.optional(),
    nonce__lte: count.optional(),
    nonce__lt: count.optional(),
    ordering: z.enum(["nonce", "-nonce", "created", "-created", "modified", "-modified"]).optional(),
    limit: count.pipe(z.number().min(1).max(1000)).optional(),
    offset: count.optional(),
  });

  // One queue per Safe, kept: it remembers the executions it found on chain.
  const queues = new Map<string, SafeQueue>();
  const queueFor = (safe: string): SafeQueue => {
    let queue = queues.get(safe);
    if (queue === undefined) queues.set(safe, (queue = options.queueFor(safe)));
    return queue;
  };

  /** The Safe's queue, once the chain says it is a Safe (else 404). */
  const queueOf = async (rawSafe: string): Promise<SafeQueue> => {
    const queue = queueFor(getAddress(rawSafe));
    try {
      await queue.onChainNonce();
    } catch {
      throw failure(404, `no Safe at ${getAddress(rawSafe)} on this chain`);
    }
    return queue;
  };

  /** An entry as the Transaction Service shows a multisig transaction. */
  const serviceTx = async (queue: SafeQueue, t: QueueEntry) => {
    const execution = t.status === "executed" ? await queue.execution(t.safeTxHash) : undefined;
    const at = t.submittedAt ?? null;
    return {
      safe: getAddress(t.safe),
      to: t.data.to,
      value: t.data.value,
      data: t.data.data === "0x" ? null : t.data.data,
      operation: t.data.operation,
      gasToken: t.data.gasToken,
      safeTxGas: t.data.safeTxGas,
      baseGas: t.data.baseGas,
      gasPrice: t.data.gasPrice,
      refundReceiver: t.data.refundReceiver,
      nonce: String(t.data.nonce),
      executionDate: execution?.executedAt ?? null,
      submissionDate: at,
      modified: at,
      blockNumber: execution?.blockNumber ?? null,
      transactionHash: t.transactionHash ?? null,
      safeTxHash: t.safeTxHash,
      executor: execution?.executor ?? null,
      proposer: null,
      proposedByDelegate: null,
      isExecuted: t.status === "executed",
      isSuccessful: t.status === "executed" ? true : null,
      ethGasPrice: null,
      maxFeePerGas: null,
      maxPriorityFeePerGas: null,
      gasUsed: null,
      fee: null,
      origin: t.description ?? null,
      dataDecoded: null,
      confirmationsRequired: t.threshold,
      confirmations: t.confirmations.map((owner) => {
        const signed = t.signatures[owner];
        return {
          owner,
          submissionDate: at,
          transactionHash: null,
          // An owner who approved the hash on chain: the Safe's pre-validated signature.
          signature: signed ?? `0x${owner.slice(2).toLowerCase().padStart(64, "0")}${"0".repeat(64)}01`,
          signatureType:
            signed === undefined ? "APPROVED_HASH" : Number(`0x${signed.slice(130)}`) > 30 ? "ETH_SIGN" : "EOA",
        };
      }),
      trusted: true,
      signatures: null,
    };
  };

  /** The stored transaction `hash`, with its queue (404 when unknown or nobody's). */
  const found = async (hash: string) => {
    const safe = await options.store.safeOf(hash);
    if (safe === undefined) throw failure(404, `no transaction ${hash}`);
    const queue = queueFor(getAddress(safe));
    const entry = (await queue.list()).find((t) => t.safeTxHash === hash);
    if (entry === undefined) throw failure(404, `no transaction ${hash}`);
    return { queue, entry };
  };

  app.get("/api/v1/about/", async () => ({
    name: "DDC signature server",
    version: "1",
    api_version: "v1",
    secure: false,
    settings: {},
  }));

  app.get("/api/v1/safes/:safe/", async (req) => {
    const { safe } = parse(safeParam, req.params, "path");
    return (await queueOf(safe)).info();
  });

  app.get("/api/v2/safes/:safe/multisig-transactions/", async (req) => {
    const { safe } = parse(safeParam, req.params, "path");
    const q = parse(listQuery, req.query, "query");
    const queue = await queueOf(safe);
    let entries = (await queue.list()).filter(
      (t) =>
        (q.executed === undefined || (t.status === "executed") === q.executed) &&
        (q.has_confirmations === undefined || t.confirmations.length > 0 === q.has_confirmations) &&
        (q.trusted === undefined || q.trusted) &&
        (q.nonce === undefined || t.data.nonce === q.nonce) &&
        (q.nonce__gte === undefined || t.data.nonce >= q.nonce__gte) &&
        (q.nonce__gt === undefined || t.data.nonce > q.nonce__gt) &&
        (q.nonce__lte === undefined || t.data.nonce <= q.nonce__lte) &&
        (q.nonce__lt === undefined || t.data.nonce < q.nonce__lt),
    );
    const ordering = q.ordering ?? "-nonce";
    const field = ordering.replace(/^-/, "");
    const key = (t: QueueEntry) => (field === "nonce" ? t.data.nonce : Date.parse(t.submittedAt ?? "") || 0);
    entries = entries.sort((a, b) => key(a) - key(b) || (a.safeTxHash < b.safeTxHash ? -1 : 1));
    if (ordering.startsWith("-")) entries.reverse();
    const limit = q.limit ?? 20;
    const offset = q.offset ?? 0;
    const page = (at: number) => {
      const url = new URL(req.url, `${req.protocol}://${req.host}`);
      url.searchParams.set("limit", String(limit));
      url.searchParams.set("offset", String(at));
      return url.toString();
    };
    return {
      count: entries.length,
      next: offset + limit < entries.length ? page(offset + limit) : null,
      previous: offset > 0 ? page(Math.max(0, offset - limit)) : null,
      results: await Promise.all(entries.slice(offset, offset + limit).map((t) => serviceTx(queue, t))),
    };
  });

  app.post("/api/v2/safes/:safe/multisig-transactions/", async (req, reply) => {
    const { safe } = parse(safeParam, req.params, "path");
    const p = parse(proposalSchema, req.body, "transaction");
    const queue = await queueOf(safe);
    const tx: StoredTx = {
      chainId: queue.chainId,
      safe: getAddress(safe),
      safeTxHash: p.contractTransactionHash.toLowerCase(),
      data: {
        to: getAddress(p.to),
        value: String(p.value),
        data: p.data ?? "0x",
        operation: p.operation,
        safeTxGas: String(p.safeTxGas),
        baseGas: String(p.baseGas),
        gasPrice: String(p.gasPrice),
        gasToken: getAddress(p.gasToken),
        refundReceiver: getAddress(p.refundReceiver ?? "0x0000000000000000000000000000000000000000"),
        nonce: Number(p.nonce),
      },
      ...(p.origin !== null && p.origin !== undefined && p.origin !== "" ? { description: p.origin } : {}),
    };
    await refusal(() => queue.submit(tx, { owner: p.sender, signature: p.signature }));
    return reply.status(201).send();
  });

  const getOne = async (req: { params: unknown }) => {
    const { hash } = parse(hashParam, req.params, "path");
    const { queue, entry } = await found(hash.toLowerCase());
    return serviceTx(queue, entry);
  };
  app.get("/api/v2/multisig-transactions/:hash/", getOne);
  app.get("/api/v1/multisig-transactions/:hash/", getOne);

  app.get("/api/v1/multisig-transactions/:hash/confirmations/", async (req) => {
    const t = await getOne(req);
    return { count: t.confirmations.length, next: null, previous: null, results: t.confirmations };
  });

  app.post("/api/v1/multisig-transactions/:hash/confirmations/", async (req, reply) => {
    const { hash } = parse(hashParam, req.params, "path");
    const body = parse(z.object({ signature }), req.body, "confirmation");
    const safe = await options.store.safeOf(hash.toLowerCase());
    if (safe === undefined) throw failure(404, `no transaction ${hash.toLowerCase()}`);
    await refusal(async () => {
      let owner: string;
      try {
        owner = signerOf(hash, body.signature);
      } catch (error) {
        throw new Error(`not a valid signature: ${(error as Error).message}`);
      }
      await queueFor(getAddress(safe)).addSignature(hash.toLowerCase(), owner, body.signature);
    });
    return reply.status(201).send({ signature: body.signature });
  });
  return app;
}
