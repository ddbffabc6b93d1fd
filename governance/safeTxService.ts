import { getAddress } from "ethers";
import { z } from "zod";
import SafeApiKit from "@safe-global/api-kit";
import {
  DirectorySignatureStore,
  safeTxDataSchema,
  type OwnerSignature,
  type SignatureStore,
  type StoredTx,
  type StoredTxWithSignatures,
} from "./safeStore";

/**
 * The signature store as a Safe Transaction Service, reached through `@safe-global/api-kit`: Safe's
 * own service on the chains it serves (owners then see and sign the transactions in Safe{Wallet}),
 * or the project's signature server (safeServer.ts), which answers the same API on any chain. The
 * same client either way: what runs in tests against the local server is what runs against Safe's.
 */

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address");
const hash = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 32-byte hash");

/** The fields of a Transaction Service's multisig transaction that the store reads. */
const serviceTxSchema = z.object({
  safe: address,
  to: address,
  value: z.string(),
  data: z.string().nullish(),
  operation: z.number(),
  gasToken: address,
  safeTxGas: z.union([z.string(), z.number()]),
  baseGas: z.union([z.string(), z.number()]),
  gasPrice: z.string(),
  refundReceiver: address.nullish(),
  nonce: z.union([z.string(), z.number()]),
  safeTxHash: hash,
  submissionDate: z.string().nullish(),
  isExecuted: z.boolean(),
  isSuccessful: z.boolean().nullish(),
  transactionHash: hash.nullish(),
  origin: z.string().nullish(),
  confirmations: z.array(z.object({ owner: address, signature: z.string() })).nullish(),
});
const serviceListSchema = z.object({ count: z.number(), next: z.string().nullish(), results: z.array(z.unknown()) });

const ZERO = "0x0000000000000000000000000000000000000000";
const PAGE = 100;

/** A Transaction Service's answer as a stored transaction; undefined when it is not a valid one. */
function toStored(chainId: number, raw: unknown): StoredTxWithSignatures | undefined {
  const r = serviceTxSchema.safeParse(raw);
  if (!r.success) return undefined;
  const t = r.data;
  const data = safeTxDataSchema.safeParse({
    to: getAddress(t.to),
    value: t.value,
    data: t.data ?? "0x",
    operation: t.operation,
    safeTxGas: String(t.safeTxGas),
    baseGas: String(t.baseGas),
    gasPrice: t.gasPrice,
    gasToken: getAddress(t.gasToken),
    refundReceiver: getAddress(t.refundReceiver ?? ZERO),
    nonce: Number(t.nonce),
  });
  if (!data.success) return undefined;
  const signatures: Record<string, string> = {};
  for (const c of t.confirmations ?? []) signatures[getAddress(c.owner)] = c.signature;
  // Safe's service keeps an app's origin as JSON ("{}" when none): only text is a description.
  const description =
    t.origin === null || t.origin === undefined || /^\s*(\{.*\})?\s*$/s.test(t.origin) ? undefined : t.origin;
  return {
    chainId,
    safe: getAddress(t.safe),
    safeTxHash: t.safeTxHash.toLowerCase(),
    data: data.data,
    ...(description !== undefined ? { description } : {}),
    signatures,
    ...(t.submissionDate ? { submittedAt: t.submissionDate } : {}),
    ...(t.isExecuted && t.isSuccessful !== false && t.transactionHash ? { executedIn: t.transactionHash } : {}),
  };
}

/** How much of a description Safe's own service keeps (its `origin` field). */
export const SAFE_ORIGIN_LIMIT = 100;

/**
 * `description` cut to `limit` characters for a service that keeps no more: the lines a reader
 * parses come first (the action key, then the evidence hash), then the title, as far as they fit.
 */
export function compactOrigin(description: string, limit: number): string {
  if (description.length <= limit) return description;
  const lines = description.split("\n");
  const wanted = [
    lines.find((l) => l.startsWith("ddc-action: ")),
    lines.find((l) => l.startsWith("Evidence: ")),
    lines.find((l) => l.startsWith("# ")),
  ].filter((l): l is string => l !== undefined);
  let out = "";
  for (const line of wanted) {
    const next = out === "" ? line : `${out}\n${line}`;
    if (next.length <= limit) out = next;
  }
  return out === "" ? description.slice(0, limit) : out;
}

/** The status of an api-kit error (HttpError), if it has one. */
const statusOf = (error: unknown): number | undefined => (error as { statusCode?: number }).statusCode;

/** A Safe Transaction Service (api-kit) as a signature store. */
export class TransactionServiceStore implements SignatureStore {
  readonly api: SafeApiKit;

  /**
   * `txServiceUrl`: the service's API base (…/api); without it, Safe's own service for `chainId`
   * (which needs `apiKey`).
   */
  /** The longest description the service keeps (Safe's own: {SAFE_ORIGIN_LIMIT}; the signature server: 10,000). */
  private readonly originLimit: number;

  constructor(
    private readonly chainId: number,
    readonly txServiceUrl?: string,
    apiKey?: string,
  ) {
    this.originLimit = txServiceUrl === undefined ? SAFE_ORIGIN_LIMIT : 10_000;
    this.api = new SafeApiKit({
      chainId: BigInt(chainId),
      ...(txServiceUrl !== undefined ? { txServiceUrl } : {}),
      ...(apiKey !== undefined && apiKey !== "" ? { apiKey } : {}),
    });
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (error) {
      const status = statusOf(error);
      const where = this.txServiceUrl ?? "the Safe Transaction Service";
      if (status === undefined) throw new Error(`${where} cannot be reached (${what}): ${(error as Error).message}`);
      throw Object.assign(new Error((error as Error).message), { statusCode: status });
    }
  }

  async putTransaction(tx: StoredTx, first: OwnerSignature): Promise<void> {
    await this.call("propose", () =>
      this.api.proposeTransaction({
        safeAddress: getAddress(tx.safe),
        safeTxHash: tx.safeTxHash,
        safeTransactionData: { ...tx.data },
        senderAddress: getAddress(first.owner),
        senderSignature: first.signature,
        ...(tx.description !== undefined ? { origin: compactOrigin(tx.description, this.originLimit) } : {}),
      }),
    );
  }

  async putSignature(_safe: string, safeTxHash: string, _owner: string, signature: string): Promise<void> {
    // The service recovers the owner from the signature itself.
    await this.call("confirm", () => this.api.confirmTransaction(safeTxHash, signature));
  }

  async get(safe: string, safeTxHash: string): Promise<StoredTxWithSignatures | undefined> {
    let raw: unknown;
    try {
      raw = await this.call("get", () => this.api.getTransaction(safeTxHash));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
    const tx = toStored(this.chainId, raw);
    return tx !== undefined && tx.safe === getAddress(safe) ? tx : undefined;
  }

  async list(safe: string): Promise<StoredTxWithSignatures[]> {
    const out: StoredTxWithSignatures[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = serviceListSchema.parse(
        await this.call("list", () =>
          this.api.getMultisigTransactions(getAddress(safe), { limit: PAGE, offset, ordering: "nonce" }),
        ),
      );
      for (const raw of page.results) {
        const tx = toStored(this.chainId, raw);
        if (tx !== undefined && tx.safe === getAddress(safe)) out.push(tx);
      }
      if (page.next === null || page.next === undefined || page.results.length === 0) break;
    }
    return out.sort(
      (a, b) => a.data.nonce - b.data.nonce || (a.safeTxHash < b.safeTxHash ? -1 : a.safeTxHash > b.safeTxHash ? 1 : 0),
    );
  }

  async safeOf(safeTxHash: string): Promise<string | undefined> {
    try {
      const raw = (await this.call("get", () => this.api.getTransaction(safeTxHash))) as { safe?: string };
      return raw.safe === undefined ? undefined : getAddress(raw.safe);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

/** Whether Safe's own Transaction Service serves `chainId` (api-kit knows its URL). */
export function servedBySafe(chainId: number): boolean {
  try {
    // Only builds the URL: no request is made.
    new SafeApiKit({ chainId: BigInt(chainId), apiKey: "-" });
    return true;
  } catch {
    return false;
  }
}

/** What `--store` / DDC_SAFE_STORE / a bot's `store` names, and where it is. */
export const SAFE_SERVICE = "safe";

/** The directory store beside a deployment record (deployments/<network>.signatures). */
export const storeDirectoryOf = (recordFile: string): string => recordFile.replace(/\.json$/, "") + ".signatures";

/** The signature store a network uses by default: Safe's Transaction Service where it runs, else a directory beside the deployment record. */
export function defaultStore(chainId: number, recordFile: string): string {
  return servedBySafe(chainId) ? SAFE_SERVICE : storeDirectoryOf(recordFile);
}

/**
 * The store `where` names: `safe` (Safe's Transaction Service for the chain: `apiKey` needed), an
 * http(s) URL (a Transaction Service: the project's signature server, or any other; `/api` is
 * appended unless the URL ends with it), or a directory.
 */
export function openStore(where: string, chainId: number, apiKey?: string): SignatureStore {
  if (where === SAFE_SERVICE) {
    if (!servedBySafe(chainId)) throw new Error(`Safe's Transaction Service does not serve chain ${chainId}`);
    if (apiKey === undefined || apiKey === "")
      throw new Error("Safe's Transaction Service needs an API key (DDC_SAFE_API_KEY)");
    return new TransactionServiceStore(chainId, undefined, apiKey);
  }
  if (/^https?:\/\//.test(where)) {
    const base = where.replace(/\/+$/, "");
    return new TransactionServiceStore(chainId, /\/api$/.test(base) ? base : `${base}/api`, apiKey);
  }
  return new DirectorySignatureStore(where);
}
