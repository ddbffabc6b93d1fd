import {
  AbstractSigner,
  Transaction,
  getAddress,
  getBigInt,
  hexlify,
  isError,
  parseUnits,
  resolveAddress,
  type Provider,
  type Signer,
  type TransactionLike,
  type TransactionReceipt,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import { z } from "zod";
import { DdcError, decodeRevert } from "../../lib/errors";
import { classify, messageOf, revertDataOf, withRetry } from "../../lib/retry";

export { isRevert, isTransient } from "../../lib/retry";

/**
 * The bot's transaction sender: one key, one nonce sequence, EIP-1559 fees under a cap, every
 * transaction simulated before it is signed, and `sendTransaction` returning only once the
 * transaction is mined (bumping the fees of a stuck one, re-sending a dropped one). It is an
 * ethers `Signer`, so typechain contracts (`.connect(signer)`), `ContractFactory` and plain
 * `sendTransaction` callers get all of this without knowing.
 *
 * Build exactly one per key (in the composition root): the nonce sequence lives in the instance.
 */

// ---------------------------------------------------------------------------------------------
// Options

export const txOptionsSchema = z
  .object({
    /** No transaction is signed with a higher maxFeePerGas, bumps included (wei). */
    maxFeePerGasCap: z.bigint().positive(),
    /** maxPriorityFeePerGas of a first attempt (wei); bumps raise it too. */
    priorityFee: z.bigint().nonnegative(),
    /** How long one attempt may wait for its receipt before the fees are bumped. */
    receiptTimeoutMs: z.number().int().positive(),
    /** How often receipts are polled while waiting. */
    pollMs: z.number().int().positive(),
    /** Replacements at the same nonce before giving up with `TxError("stuck")`. */
    maxBumps: z.number().int().min(0).max(20),
    /** Each replacement raises both fees by this much (nodes refuse replacements under +12.5%). */
    bumpPercent: z.number().int().min(13).max(100),
    /** Extra attempts of an RPC call that failed for a transient reason. */
    retries: z.number().int().min(0).max(10),
    /** The first retry waits this long; each next one twice as long, at most `retryMaxMs`. */
    retryBaseMs: z.number().int().min(0),
    retryMaxMs: z.number().int().min(0),
    /** Blocks on top of (and including) the one holding the transaction before it counts as mined. */
    confirmations: z.number().int().min(1).max(64),
    /** Added to the node's gas estimate when the caller gave no gasLimit. */
    gasMarginPercent: z.number().int().min(0).max(100),
  })
  .strict()
  .refine((o) => o.priorityFee <= o.maxFeePerGasCap, {
    message: "priorityFee must not exceed maxFeePerGasCap",
    path: ["priorityFee"],
  });

export type TxOptions = z.infer<typeof txOptionsSchema>;

export const DEFAULT_TX_OPTIONS: Readonly<TxOptions> = Object.freeze({
  maxFeePerGasCap: parseUnits("200", "gwei"),
  priorityFee: parseUnits("1", "gwei"),
  receiptTimeoutMs: 60_000,
  pollMs: 2_000,
  maxBumps: 3,
  bumpPercent: 15,
  retries: 4,
  retryBaseMs: 500,
  retryMaxMs: 8_000,
  confirmations: 1,
  gasMarginPercent: 20,
});

/** What the sender did, for the service's metrics and logs. The hook must not throw (it is ignored if it does). */
export interface TxEvent {
  type: "sent" | "replaced" | "mined" | "retry" | "rpc-error" | "dropped";
  nonce?: number;
  hash?: string;
  /** The maxFeePerGas of the transaction `hash` (sent, replaced, dropped). */
  maxFeePerGas?: bigint;
  detail?: string;
}
export type TxEventHook = (e: TxEvent) => void;

export type ManagedSignerOptions = Partial<TxOptions> & { events?: TxEventHook };

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * - `fee-cap`: the fee needed now (base fee + priority fee), or the caller's maxFeePerGas, is above the cap;
 * - `reverted`: the simulation reverted (`data` holds the revert data), or the mined transaction failed (`receipt`);
 * - `funds`: the key cannot pay for the transaction;
 * - `nonce`: the nonce was taken by a transaction this signer did not send;
 * - `stuck`: not mined after every bump (`nonce`, `hashes`);
 * - `rpc`: the node failed (after the retries, for a transient failure);
 * - `unsupported`: a request this signer does not send (a caller's nonce, a legacy transaction, a chain without EIP-1559).
 * Nothing was sent for `fee-cap`, `reverted` from simulation, `funds`, `rpc` before `sent`, and `unsupported`.
 */
export type TxErrorKind = "fee-cap" | "reverted" | "funds" | "nonce" | "stuck" | "rpc" | "unsupported";

export class TxError extends DdcError {
  override readonly name = "TxError";
  readonly kind: TxErrorKind;
  readonly nonce?: number;
  /** Every hash signed for this nonce, oldest first. */
  readonly hashes: readonly string[];
  /** Revert data of a reverted simulation ("0x" if the revert had none). */
  readonly data?: string;
  /** The custom error in `data`, when it is one the project knows. */
  readonly decoded?: { name: string; text: string };
  readonly receipt?: TransactionReceipt;

  constructor(
    kind: TxErrorKind,
    shortMessage: string,
    details: {
      nonce?: number;
      hashes?: readonly string[];
      data?: string;
      receipt?: TransactionReceipt;
      cause?: unknown;
    } = {},
  ) {
    const decoded = decodeRevert(details.data);
    const lines = [
      decoded === undefined ? undefined : `error: ${decoded.text}`,
      details.nonce === undefined ? undefined : `nonce: ${details.nonce}`,
      details.hashes === undefined || details.hashes.length === 0 ? undefined : `hashes: ${details.hashes.join(", ")}`,
    ].filter((l): l is string => l !== undefined);
    // `shortMessage` is the message without the details appended to it.
    super(lines.length === 0 ? shortMessage : `${shortMessage}\n  ${lines.join("\n  ")}`, {
      shortMessage,
      cause: details.cause,
    });
    this.kind = kind;
    this.nonce = details.nonce;
    this.hashes = details.hashes ?? [];
    this.data = details.data;
    this.decoded = decoded;
    this.receipt = details.receipt;
  }
}

// ---------------------------------------------------------------------------------------------
// The signer

/** The nonces as last read from the node, and the next one this signer will use. */
export interface NonceState {
  /** Transactions of the key mined. */
  latest: number;
  /** Transactions of the key mined or waiting in the node's mempool. */
  pending: number;
  next: number;
}

interface Draft {
  to: string | null;
  data: string;
  value: bigint;
  gasLimit?: bigint;
  accessList?: TransactionLike["accessList"];
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
}

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

interface Attempt {
  nonce: number;
  fields: TransactionLike<string>;
  fees: Fees;
  signed: string;
  hash: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ceilPercent = (x: bigint, percent: number) => (x * BigInt(100 + percent) + 99n) / 100n;
/** What nodes demand of a replacement: both fees at least 12.5% above the transaction replaced. */
const minReplacement = (x: bigint) => (x * 1125n + 999n) / 1000n;

export class ManagedSigner extends AbstractSigner<Provider> {
  readonly options: Readonly<TxOptions>;
  readonly #signer: Signer;
  readonly #events: TxEventHook | undefined;
  #address: Promise<string> | undefined;
  #chainId: Promise<bigint> | undefined;
  /** The next nonce to assign; undefined until reconciled with the node. */
  #next: number | undefined;
  /** Nonces broadcast and not yet seen mined (a reconcile never goes below them). */
  readonly #inFlight = new Set<number>();
  /** The tail of the chain of sends and reconciles: each runs after the previous one settled. */
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * `signer` signs (a `Wallet`, or any Signer implementing `signTransaction`); `provider` reads and
   * broadcasts. Options are checked once; an invalid set throws listing every problem.
   */
  constructor(signer: Signer, provider: Provider, options: ManagedSignerOptions = {}) {
    super(provider);
    const { events, ...rest } = options;
    const parsed = txOptionsSchema.safeParse({ ...DEFAULT_TX_OPTIONS, ...rest });
    if (!parsed.success) throw new Error(`invalid transaction options:\n${z.prettifyError(parsed.error)}`);
    this.options = Object.freeze(parsed.data);
    this.#signer = signer;
    this.#events = events;
  }

  override getAddress(): Promise<string> {
    this.#address ??= this.#signer.getAddress().then((a) => getAddress(a));
    return this.#address;
  }

  /** A new ManagedSigner over the same key and options, with its own nonce sequence: use one per key. */
  override connect(provider: null | Provider): ManagedSigner {
    if (provider === null) throw new Error("a ManagedSigner needs a provider");
    return new ManagedSigner(this.#signer, provider, { ...this.options, events: this.#events });
  }

  override signTransaction(tx: TransactionRequest): Promise<string> {
    return this.#signer.signTransaction(tx);
  }

  override signMessage(message: string | Uint8Array): Promise<string> {
    return this.#signer.signMessage(message);
  }

  override signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.#signer.signTypedData(domain, types, value);
  }

  /**
   * Reads the key's transaction counts (mined, and with the mempool) and restarts the local
   * sequence there, never below a nonce this signer is still waiting on. Runs after the sends
   * already under way have been broadcast. Called automatically on first use.
   */
  reconcile(): Promise<NonceState> {
    return this.#serialise(() => this.#reconcile());
  }

  /**
   * Simulates, signs with the next nonce and fees under the cap, broadcasts, and resolves once the
   * transaction (or a replacement of it at the same nonce) is mined with `confirmations`: the
   * response's `.wait()` resolves at once. Throws a `TxError` otherwise (see `TxErrorKind`).
   */
  override async sendTransaction(request: TransactionRequest): Promise<TransactionResponse> {
    const draft = await this.#draft(request);
    const first = await this.#serialise(() => this.#simulateAndBroadcast(draft));
    try {
      return await this.#untilMined(first);
    } finally {
      this.#inFlight.delete(first.nonce);
    }
  }

  // -- preparing ------------------------------------------------------------------------------

  async #draft(request: TransactionRequest): Promise<Draft> {
    if (request.nonce !== undefined && request.nonce !== null) {
      throw new TxError("unsupported", "the ManagedSigner assigns nonces: send the transaction without one");
    }
    if (request.type !== undefined && request.type !== null && request.type !== 2) {
      throw new TxError("unsupported", `only EIP-1559 (type 2) transactions are sent, not type ${request.type}`);
    }
    if (request.gasPrice !== undefined && request.gasPrice !== null) {
      throw new TxError("unsupported", "gasPrice given: set maxFeePerGas / maxPriorityFeePerGas instead");
    }
    const address = await this.getAddress();
    if (request.from !== undefined && request.from !== null) {
      const from = await resolveAddress(request.from, this.provider);
      if (getAddress(from) !== address) {
        throw new TxError("unsupported", `the transaction is from ${from}, this signer is ${address}`);
      }
    }
    const opt = (v: TransactionRequest["value"]) => (v === undefined || v === null ? undefined : getBigInt(v));
    return {
      to: request.to === undefined || request.to === null ? null : await resolveAddress(request.to, this.provider),
      data: request.data === undefined || request.data === null ? "0x" : hexlify(request.data),
      value: opt(request.value) ?? 0n,
      gasLimit: opt(request.gasLimit),
      accessList: request.accessList ?? undefined,
      maxFeePerGas: opt(request.maxFeePerGas),
      maxPriorityFeePerGas: opt(request.maxPriorityFeePerGas),
    };
  }

  /** Runs `fn` after every earlier send/reconcile has settled: one nonce is assigned at a time. */
  #serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reconcile(): Promise<NonceState> {
    const address = await this.getAddress();
    const [latest, pending] = await Promise.all([
      this.#rpc("eth_getTransactionCount(latest)", () => this.provider.getTransactionCount(address, "latest")),
      this.#rpc("eth_getTransactionCount(pending)", () => this.provider.getTransactionCount(address, "pending")),
    ]);
    const waiting = this.#inFlight.size === 0 ? 0 : Math.max(...this.#inFlight) + 1;
    this.#next = Math.max(pending, waiting);
    return { latest, pending, next: this.#next };
  }

  async #simulateAndBroadcast(draft: Draft): Promise<Attempt> {
    if (this.#next === undefined) await this.#reconcile();
    const from = await this.getAddress();
    const gasLimit = await this.#simulate(from, draft);
    const fees = await this.#fees(draft);
    this.#chainId ??= this.#rpc("eth_chainId", () => this.provider.getNetwork()).then((n) => n.chainId);
    const chainId = await this.#chainId.catch((e: unknown) => {
      this.#chainId = undefined;
      throw e;
    });
    // A nonce taken by another process shows as "nonce too low" (mined) or "underpriced" (in the
    // mempool): read the counts again and take the next one, once.
    for (let attempt = 0; ; attempt++) {
      const nonce = this.#next!;
      const fields: TransactionLike<string> = {
        type: 2,
        chainId,
        from,
        nonce,
        to: draft.to,
        data: draft.data,
        value: draft.value,
        gasLimit,
        accessList: draft.accessList,
        ...fees,
      };
      const signed = await this.#signer.signTransaction(fields);
      try {
        const hash = await this.#broadcast(signed);
        this.#next = nonce + 1;
        this.#inFlight.add(nonce);
        this.#emit({ type: "sent", nonce, hash, maxFeePerGas: fees.maxFeePerGas });
        return { nonce, fields, fees, signed, hash };
      } catch (error) {
        // Release the nonce: whatever reached the node is counted by it.
        await this.#reconcile().catch(() => {
          this.#next = undefined;
        });
        const failure = classify(error);
        if (attempt === 0 && (failure === "nonce-expired" || failure === "underpriced")) continue;
        if (failure === "nonce-expired" || failure === "underpriced") {
          throw new TxError("nonce", `nonce ${nonce} is taken by a transaction this signer did not send`, {
            nonce,
            cause: error,
          });
        }
        throw this.#fail(error, "eth_sendRawTransaction", { nonce });
      }
    }
  }

  /** eth_call of the exact transaction at "pending", then the gas estimate (plus the margin) if none was given. */
  async #simulate(from: string, draft: Draft): Promise<bigint> {
    const call: TransactionRequest = {
      from,
      to: draft.to,
      data: draft.data,
      value: draft.value,
      gasLimit: draft.gasLimit,
      accessList: draft.accessList,
      blockTag: "pending",
    };
    try {
      await this.#rpc("eth_call", () => this.provider.call(call));
      if (draft.gasLimit !== undefined) return draft.gasLimit;
      const estimate = await this.#rpc("eth_estimateGas", () => this.provider.estimateGas(call));
      return ceilPercent(estimate, this.options.gasMarginPercent);
    } catch (error) {
      throw this.#fail(error, "simulation");
    }
  }

  /** maxFeePerGas = min(cap, 2 × base fee + priority fee); refused if base fee + priority fee is above the cap. */
  async #fees(draft: Pick<Draft, "maxFeePerGas" | "maxPriorityFeePerGas">): Promise<Fees> {
    const cap = this.options.maxFeePerGasCap;
    const baseFee = await this.#baseFee();
    const priority = draft.maxPriorityFeePerGas ?? this.options.priorityFee;
    const needed = baseFee + priority;
    if (needed > cap) {
      throw new TxError(
        "fee-cap",
        `the fee needed now, ${needed} wei/gas (base fee ${baseFee} + priority fee ${priority}), is above the cap of ${cap} wei/gas: nothing was sent`,
      );
    }
    if (draft.maxFeePerGas !== undefined && draft.maxFeePerGas > cap) {
      throw new TxError(
        "fee-cap",
        `the maxFeePerGas asked for, ${draft.maxFeePerGas} wei/gas, is above the cap of ${cap} wei/gas: nothing was sent`,
      );
    }
    const maxFeePerGas = draft.maxFeePerGas ?? (2n * baseFee + priority < cap ? 2n * baseFee + priority : cap);
    return { maxFeePerGas, maxPriorityFeePerGas: priority < maxFeePerGas ? priority : maxFeePerGas };
  }

  async #baseFee(): Promise<bigint> {
    const block = await this.#rpc("eth_getBlockByNumber(latest)", () => this.provider.getBlock("latest"));
    const baseFee = block?.baseFeePerGas;
    if (baseFee === undefined || baseFee === null) {
      throw new TxError("unsupported", "the chain's latest block has no baseFeePerGas: EIP-1559 is required");
    }
    return baseFee;
  }

  // -- broadcasting and waiting -----------------------------------------------------------------

  /**
   * Broadcasts a signed transaction, retrying transient failures. Sending the same bytes twice is
   * harmless, so a retry told "already known", or "nonce too low" after an attempt whose answer was
   * lost, counts as sent (the receipt loop finds out what happened).
   */
  async #broadcast(signed: string): Promise<string> {
    const hash = Transaction.from(signed).hash!;
    let tried = false;
    await this.#rpc("eth_sendRawTransaction", async () => {
      const again = tried;
      tried = true;
      try {
        await this.provider.broadcastTransaction(signed);
      } catch (error) {
        const failure = classify(error);
        if (failure === "known" || (again && failure === "nonce-expired")) return;
        throw error;
      }
    });
    return hash;
  }

  async #untilMined(first: Attempt): Promise<TransactionResponse> {
    const { nonce } = first;
    const { receiptTimeoutMs, pollMs, maxBumps, confirmations } = this.options;
    const hashes = [first.hash];
    let current = first;
    let bumps = 0;
    let drops = 0;
    let note = "";
    let deadline = Date.now() + receiptTimeoutMs;
    const context = () => ({ nonce, hashes: [...hashes] });
    try {
      for (;;) {
        const receipt = await this.#findReceipt(hashes);
        if (receipt !== null) {
          if ((await this.#rpc("eth_blockNumber", () => receipt.confirmations())) < confirmations) {
            await sleep(pollMs);
            continue;
          }
          this.#emit({ type: "mined", nonce, hash: receipt.hash, detail: `block ${receipt.blockNumber}` });
          if (receipt.status !== 1) {
            throw new TxError("reverted", `the transaction was mined and reverted (block ${receipt.blockNumber})`, {
              ...context(),
              receipt,
            });
          }
          const response = await this.#rpc("eth_getTransactionByHash", () =>
            this.provider.getTransaction(receipt.hash),
          );
          if (response === null) throw new TxError("rpc", `the node does not return mined ${receipt.hash}`, context());
          return response;
        }
        if (Date.now() < deadline) {
          await sleep(pollMs);
          continue;
        }
        const address = await this.getAddress();
        const mined = await this.#rpc("eth_getTransactionCount(latest)", () =>
          this.provider.getTransactionCount(address, "latest"),
        );
        if (mined > nonce) {
          if ((await this.#findReceipt(hashes)) !== null) continue;
          throw new TxError("nonce", `nonce ${nonce} was used by a transaction this signer did not send`, context());
        }
        const known = await Promise.all(
          hashes.map((h) => this.#rpc("eth_getTransactionByHash", () => this.provider.getTransaction(h))),
        );
        if (known.every((t) => t === null)) {
          if (drops > maxBumps) {
            throw new TxError("stuck", `the node dropped the transaction ${drops + 1} times`, context());
          }
          drops += 1;
          await this.#broadcast(current.signed);
          this.#emit({
            type: "dropped",
            nonce,
            hash: current.hash,
            maxFeePerGas: current.fees.maxFeePerGas,
            detail: "no longer known to the node: sent again",
          });
        } else {
          if (bumps >= maxBumps) {
            throw new TxError(
              "stuck",
              `not mined after ${bumps} fee bump(s), maxFeePerGas ${current.fees.maxFeePerGas} wei/gas${note}`,
              context(),
            );
          }
          bumps += 1;
          const next = await this.#replace(current);
          if (typeof next === "string") {
            note = `; ${next}`;
          } else {
            hashes.push(next.hash);
            this.#emit({
              type: "replaced",
              nonce,
              hash: next.hash,
              maxFeePerGas: next.fees.maxFeePerGas,
              detail: `replaces ${current.hash} (maxFeePerGas ${current.fees.maxFeePerGas} → ${next.fees.maxFeePerGas})`,
            });
            current = next;
          }
        }
        deadline = Date.now() + receiptTimeoutMs;
      }
    } catch (error) {
      if (error instanceof TxError && error.nonce !== undefined) throw error;
      throw this.#fail(error, "waiting for the receipt", context());
    }
  }

  /** The receipt of whichever hash is mined, or null. */
  async #findReceipt(hashes: readonly string[]): Promise<TransactionReceipt | null> {
    const receipts = await Promise.all(
      hashes.map((h) => this.#rpc("eth_getTransactionReceipt", () => this.provider.getTransactionReceipt(h))),
    );
    return receipts.find((r) => r !== null) ?? null;
  }

  /**
   * Signs and broadcasts `current` again with both fees raised by `bumpPercent` (maxFeePerGas at
   * least 2 × the current base fee + the new priority fee), under the cap. Returns why not when the
   * cap leaves no valid replacement or the node refuses it: the old transaction keeps waiting.
   */
  async #replace(current: Attempt): Promise<Attempt | string> {
    const cap = this.options.maxFeePerGasCap;
    const old = current.fees;
    const priority = ceilPercent(old.maxPriorityFeePerGas, this.options.bumpPercent);
    const fresh = 2n * (await this.#baseFee()) + priority;
    const bumped = ceilPercent(old.maxFeePerGas, this.options.bumpPercent);
    const wanted = bumped > fresh ? bumped : fresh;
    const maxFeePerGas = wanted < cap ? wanted : cap;
    const maxPriorityFeePerGas = priority < maxFeePerGas ? priority : maxFeePerGas;
    if (
      maxFeePerGas < minReplacement(old.maxFeePerGas) ||
      maxPriorityFeePerGas < minReplacement(old.maxPriorityFeePerGas)
    ) {
      return `the fee cap of ${cap} wei/gas leaves no room for a replacement`;
    }
    const fees = { maxFeePerGas, maxPriorityFeePerGas };
    const fields = { ...current.fields, ...fees };
    const signed = await this.#signer.signTransaction(fields);
    try {
      const hash = await this.#broadcast(signed);
      return { nonce: current.nonce, fields, fees, signed, hash };
    } catch (error) {
      const failure = classify(error);
      if (failure === "underpriced" || failure === "funds" || failure === "nonce-expired") {
        // Refused, or the nonce was just mined: keep waiting on what is there.
        this.#emit({ type: "rpc-error", nonce: current.nonce, detail: `replacement refused: ${messageOf(error)}` });
        return `the node refused the replacement (${failure})`;
      }
      throw error;
    }
  }

  // -- plumbing -------------------------------------------------------------------------------

  /** Runs an RPC call, retrying transient failures with exponential backoff; other failures pass through. */
  #rpc<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const { retries, retryBaseMs, retryMaxMs } = this.options;
    return withRetry(fn, {
      retries,
      retryBaseMs,
      retryMaxMs,
      onFailure: (error) => this.#emit({ type: "rpc-error", detail: `${what}: ${messageOf(error)}` }),
      onRetry: (attempt, delay) =>
        this.#emit({ type: "retry", detail: `${what}: attempt ${attempt} of ${retries + 1} in ${delay} ms` }),
      exhausted: (error, attempts) =>
        new TxError("rpc", `${what} failed ${attempts} time(s): ${messageOf(error)}`, { cause: error }),
    });
  }

  /** Any failure as a TxError: reverts with their data, insufficient funds, or the node's failure. */
  #fail(error: unknown, stage: string, context: { nonce?: number; hashes?: readonly string[] } = {}): TxError {
    if (error instanceof TxError) {
      return context.nonce === undefined || error.nonce !== undefined
        ? error
        : new TxError(error.kind, error.shortMessage, { ...context, data: error.data, cause: error.cause });
    }
    switch (classify(error)) {
      case "reverted": {
        const data = revertDataOf(error);
        const decoded = decodeRevert(data);
        const reason = decoded?.text ?? (isError(error, "CALL_EXCEPTION") ? error.reason : null) ?? "no reason";
        const sent = stage === "simulation" ? "; nothing was sent" : "";
        return new TxError("reverted", `${stage} reverted: ${reason}${sent}`, {
          ...context,
          data: data ?? "0x",
          cause: error,
        });
      }
      case "funds":
        return new TxError("funds", `the key cannot pay for the transaction (${stage}): fund it`, {
          ...context,
          cause: error,
        });
      default:
        return new TxError("rpc", `${stage} failed: ${messageOf(error).split("\n")[0]}`, { ...context, cause: error });
    }
  }

  #emit(e: TxEvent): void {
    if (this.#events === undefined) return;
    try {
      this.#events(e);
    } catch {
      // A metrics or log hook never breaks a send.
    }
  }
}
