import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import {
  Contract,
  Interface,
  TypedDataEncoder,
  dataSlice,
  getAddress,
  getBytes,
  hashMessage,
  hexlify,
  recoverAddress,
  type Provider,
  type Signer,
} from "ethers";
import { z } from "zod";
import { EthSafeSignature, EthSafeTransaction, generatePreValidatedSignature } from "@safe-global/protocol-kit";
import { safeArtifact } from "../lib/safeArtifacts";
import { safeFor, type SafeConnection } from "./safe";

/**
 * Collecting Safe owners' signatures: a transaction and its signatures are kept in a store that the
 * owners share: a directory, or a Safe Transaction Service reached through api-kit (Safe's own,
 * where Safe{Wallet} shows them, or the project's signature server: see safeTxService.ts and
 * safeServer.ts). Every signature is checked before it is kept: it must recover to an owner
 * of the Safe, for this very transaction, whose nonce is not already used. Execution happens once
 * the signatures (and on-chain approvals, `approveHash`) reach the threshold.
 */

const EXEC_TRANSACTION = new Interface([
  "function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) payable returns (bool)",
]);

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address");
const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, "hex bytes");
const uint = z.string().regex(/^\d+$/, "a decimal integer string");

export const safeTxDataSchema = z.object({
  to: address,
  value: uint,
  data: hex,
  operation: z.union([z.literal(0), z.literal(1)]),
  safeTxGas: uint,
  baseGas: uint,
  gasPrice: uint,
  gasToken: address,
  refundReceiver: address,
  nonce: z.number().int().nonnegative(),
});
export type SafeTxData = z.infer<typeof safeTxDataSchema>;

export const storedTxSchema = z.object({
  chainId: z.number().int().positive(),
  safe: address,
  safeTxHash: z.string().regex(/^0x[0-9a-f]{64}$/, "a lower-case 32-byte hash"),
  data: safeTxDataSchema,
  description: z.string().max(10_000).optional(),
});
export type StoredTx = z.infer<typeof storedTxSchema>;

export const signatureSchema = z.object({
  owner: address,
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "a 65-byte signature"),
});

export interface StoredTxWithSignatures extends StoredTx {
  /** owner (checksummed) → signature. */
  signatures: Record<string, string>;
  /** When it was stored (ISO 8601), if the store knows. */
  submittedAt?: string;
  /** The chain transaction that executed it, when the store says so (a Transaction Service does). */
  executedIn?: string;
}

/** An owner's signature of a stored transaction. */
export type OwnerSignature = z.infer<typeof signatureSchema>;

/**
 * Where transactions and signatures are shared. A transaction is stored together with its first
 * owner's signature: a store never holds a transaction that no owner put there.
 */
export interface SignatureStore {
  putTransaction(tx: StoredTx, first: OwnerSignature): Promise<void>;
  putSignature(safe: string, safeTxHash: string, owner: string, signature: string): Promise<void>;
  get(safe: string, safeTxHash: string): Promise<StoredTxWithSignatures | undefined>;
  list(safe: string): Promise<StoredTxWithSignatures[]>;
  /** The Safe a stored transaction belongs to (a confirmation names only the hash). */
  safeOf(safeTxHash: string): Promise<string | undefined>;
}

/** A store in a directory (e.g. a shared folder): one file per transaction and one per signature,
 * written atomically, so owners signing from different processes never overwrite each other. */
export class DirectorySignatureStore implements SignatureStore {
  constructor(private readonly dir: string) {}

  private txDir(safe: string, safeTxHash: string): string {
    return join(this.dir, getAddress(safe), safeTxHash.toLowerCase());
  }

  private static write(file: string, value: unknown): void {
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
    renameSync(tmp, file);
  }

  async putTransaction(tx: StoredTx, first: OwnerSignature): Promise<void> {
    const dir = this.txDir(tx.safe, tx.safeTxHash);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "transaction.json");
    // The signature first: a reader sees the transaction only once its first signature is there.
    const owner = getAddress(first.owner);
    DirectorySignatureStore.write(join(dir, `signature-${owner}.json`), { owner, signature: first.signature });
    if (!existsSync(file)) DirectorySignatureStore.write(file, storedTxSchema.parse(tx));
  }

  async putSignature(safe: string, safeTxHash: string, owner: string, signature: string): Promise<void> {
    const dir = this.txDir(safe, safeTxHash);
    if (!existsSync(join(dir, "transaction.json"))) throw new Error(`no transaction ${safeTxHash} in the store`);
    DirectorySignatureStore.write(join(dir, `signature-${getAddress(owner)}.json`), {
      owner: getAddress(owner),
      signature,
    });
  }

  async get(safe: string, safeTxHash: string): Promise<StoredTxWithSignatures | undefined> {
    const dir = this.txDir(safe, safeTxHash);
    const file = join(dir, "transaction.json");
    if (!existsSync(file)) return undefined;
    const tx = storedTxSchema.parse(JSON.parse(readFileSync(file, "utf8")));
    const signatures: Record<string, string> = {};
    for (const name of readdirSync(dir)) {
      if (!/^signature-0x[0-9a-fA-F]{40}\.json$/.test(name)) continue;
      const s = signatureSchema.parse(JSON.parse(readFileSync(join(dir, name), "utf8")));
      signatures[getAddress(s.owner)] = s.signature;
    }
    return { ...tx, signatures, submittedAt: statSync(file).mtime.toISOString() };
  }

  async safeOf(safeTxHash: string): Promise<string | undefined> {
    if (!existsSync(this.dir)) return undefined;
    const hash = safeTxHash.toLowerCase();
    return readdirSync(this.dir).find(
      (safe) => /^0x[0-9a-fA-F]{40}$/.test(safe) && existsSync(join(this.dir, safe, hash, "transaction.json")),
    );
  }

  async list(safe: string): Promise<StoredTxWithSignatures[]> {
    const dir = join(this.dir, getAddress(safe));
    if (!existsSync(dir)) return [];
    const out: StoredTxWithSignatures[] = [];
    for (const hash of readdirSync(dir)) {
      const tx = await this.get(safe, hash);
      if (tx !== undefined) out.push(tx);
    }
    return out.sort(
      (a, b) => a.data.nonce - b.data.nonce || (a.safeTxHash < b.safeTxHash ? -1 : a.safeTxHash > b.safeTxHash ? 1 : 0),
    );
  }
}

const SAFE_TX_TYPES = {
  SafeTx: [
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "data", type: "bytes" },
    { name: "operation", type: "uint8" },
    { name: "safeTxGas", type: "uint256" },
    { name: "baseGas", type: "uint256" },
    { name: "gasPrice", type: "uint256" },
    { name: "gasToken", type: "address" },
    { name: "refundReceiver", type: "address" },
    { name: "nonce", type: "uint256" },
  ],
};

/** The EIP-712 hash a Safe's owners sign for `data` (Safe ≥ 1.3: domain = chain id + Safe). */
export function safeTxHash(chainId: number, safe: string, data: SafeTxData): string {
  return TypedDataEncoder.hash({ chainId, verifyingContract: getAddress(safe) }, SAFE_TX_TYPES, data).toLowerCase();
}

/** Signs `data` as `signer` (an owner) with EIP-712, as the Safe app does. */
export async function signSafeTx(signer: Signer, chainId: number, safe: string, data: SafeTxData): Promise<string> {
  return signer.signTypedData({ chainId, verifyingContract: getAddress(safe) }, SAFE_TX_TYPES, data);
}

/** Who signed `hash` with `signature` (EIP-712, v 27/28; or eth_sign, v 31/32). */
export function signerOf(hash: string, signature: string): string {
  const bytes = getBytes(signature);
  const v = bytes[64];
  if (v === 31 || v === 32) {
    bytes[64] = v - 4;
    return recoverAddress(hashMessage(getBytes(hash)), hexlify(bytes));
  }
  if (v !== 27 && v !== 28) throw new Error(`signature type v=${v} is not an owner's ECDSA signature`);
  return recoverAddress(hash, signature);
}

export interface QueueEntry extends StoredTxWithSignatures {
  /** Owners whose signature or on-chain approval counts. */
  confirmations: string[];
  threshold: number;
  ready: boolean;
  /**
   * "pending", "executable", "blocked" (an earlier nonce is pending), "executed" (this very
   * transaction ran: `transactionHash` says where), "stale" (its nonce was used by another one).
   */
  status: "pending" | "executable" | "blocked" | "executed" | "stale";
  /** The chain transaction that executed it (status "executed"). */
  transactionHash?: string;
}

/** Whether a queue entry's nonce is used up: executed, or replaced by another transaction. */
export function nonceUsed(status: QueueEntry["status"]): boolean {
  return status === "executed" || status === "stale";
}

/** A Safe's configuration (the Transaction Service's `SafeInfoResponse`). */
export interface SafeInfo {
  address: string;
  nonce: string;
  threshold: number;
  owners: string[];
  singleton: string;
  modules: string[];
  fallbackHandler: string;
  guard: string;
  version: string;
}

// Where a Safe keeps its fallback handler and its guard (keccak256 of their names).
const FALLBACK_HANDLER_SLOT = "0x6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5";
const GUARD_SLOT = "0x4a204f620c8c5ccdca3fd54d003badd85ba500436a431f0cbda4f558c93c34c8";
const SENTINEL = "0x0000000000000000000000000000000000000001";

/** Where and when a Safe transaction was executed. */
export interface Execution {
  transactionHash: string;
  blockNumber: number;
  /** Who sent the execution. */
  executor: string;
  /** The block's time, ISO 8601. */
  executedAt: string;
}

/** One Safe's queue of transactions in a store, checked against the chain. */
export class SafeQueue {
  private readonly safeContract: Contract;
  /** Executions found on chain (they do not change once found). */
  private readonly executions = new Map<string, Execution>();

  constructor(
    provider: Provider,
    readonly chainId: number,
    readonly safe: string,
    private readonly store: SignatureStore,
  ) {
    this.safeContract = new Contract(getAddress(safe), safeArtifact("Safe").abi as never[], provider);
  }

  async owners(): Promise<string[]> {
    return ((await this.safeContract.getOwners()) as string[]).map((o) => getAddress(o));
  }

  async threshold(): Promise<number> {
    return Number(await this.safeContract.getThreshold());
  }

  async onChainNonce(): Promise<number> {
    return Number(await this.safeContract.nonce());
  }

  /** The Safe as a Transaction Service describes it: nonce, owners, threshold, singleton, modules, handlers. */
  async info(): Promise<SafeInfo> {
    const c = this.safeContract;
    const provider = c.runner!.provider!;
    const safe = getAddress(this.safe);
    const slot = async (at: string) => getAddress(dataSlice(await provider.getStorage(safe, at), 12));
    const [nonce, threshold, owners, version, singleton, fallbackHandler, guard, modules] = await Promise.all([
      this.onChainNonce(),
      this.threshold(),
      this.owners(),
      c.VERSION() as Promise<string>,
      slot("0x0"),
      slot(FALLBACK_HANDLER_SLOT),
      slot(GUARD_SLOT),
      c.getModulesPaginated(SENTINEL, 100) as Promise<[string[], string]>,
    ]);
    return {
      address: safe,
      nonce: String(nonce),
      threshold,
      owners,
      singleton,
      modules: modules[0].map((m) => getAddress(m)),
      fallbackHandler,
      guard,
      version,
    };
  }

  /** The next nonce nobody has claimed: after the chain's, and after every pending one an owner confirmed. */
  async nextNonce(): Promise<number> {
    const chain = await this.onChainNonce();
    const taken = (await this.list()).map((t) => t.data.nonce).filter((n) => n >= chain);
    return taken.length === 0 ? chain : Math.max(...taken) + 1;
  }

  /**
   * Signs a transaction as `signer` (an owner) and stores it with that signature. Refused, with the
   * reason, when the nonce is used or the signer is not an owner: nothing is stored then.
   */
  async propose(data: SafeTxData, description: string | undefined, signer: Signer): Promise<StoredTx> {
    const parsed = safeTxDataSchema.parse(data);
    const signature = await signSafeTx(signer, this.chainId, this.safe, parsed);
    return this.submit(this.storedTx(parsed, description), {
      owner: await signer.getAddress(),
      signature,
    });
  }

  /**
   * Stores a transaction signed elsewhere, with its first owner's signature (what the signature
   * server takes). Refused, with the reason: a hash that is not the data's, a used nonce, a
   * signature that is not `first.owner`'s for this hash, a signer who is not an owner.
   */
  async submit(tx: StoredTx, first: OwnerSignature): Promise<StoredTx> {
    const parsed = this.storedTx(safeTxDataSchema.parse(tx.data), tx.description);
    if (getAddress(tx.safe) !== getAddress(this.safe))
      throw new Error(`the transaction is for Safe ${tx.safe}, not ${this.safe}`);
    if (tx.chainId !== this.chainId)
      throw new Error(`the transaction is for chain ${tx.chainId}, this is chain ${this.chainId}`);
    if (parsed.safeTxHash !== tx.safeTxHash.toLowerCase()) {
      throw new Error(`the transaction's hash is ${parsed.safeTxHash}, not ${tx.safeTxHash}`);
    }
    const chain = await this.onChainNonce();
    if (parsed.data.nonce < chain) {
      throw new Error(`stale: nonce ${parsed.data.nonce} is below the Safe's next nonce ${chain}`);
    }
    const owner = await this.checkSignature(parsed.safeTxHash, first.owner, first.signature);
    await this.store.putTransaction(parsed, { owner, signature: first.signature });
    return parsed;
  }

  private storedTx(data: SafeTxData, description: string | undefined): StoredTx {
    return {
      chainId: this.chainId,
      safe: getAddress(this.safe),
      safeTxHash: safeTxHash(this.chainId, this.safe, data),
      data,
      ...(description !== undefined ? { description } : {}),
    };
  }

  /** The owner whose signature of `hash` `signature` is; refused unless it recovers to `owner`, an owner. */
  private async checkSignature(hash: string, owner: string, signature: string): Promise<string> {
    let recovered: string;
    try {
      recovered = signerOf(hash, signature);
    } catch (error) {
      throw new Error(`not a valid signature: ${(error as Error).message}`);
    }
    const claimed = getAddress(owner);
    if (recovered !== claimed) {
      throw new Error(`the signature is not ${claimed}'s for this transaction (it recovers to ${recovered})`);
    }
    if (!(await this.owners()).includes(claimed)) throw new Error(`${claimed} is not an owner of the Safe`);
    return claimed;
  }

  /**
   * Checks and keeps `owner`'s signature of the stored transaction `hash`. Refused, with the
   * reason: an unknown transaction, a stale nonce, a signature that does not recover to `owner`
   * for this hash, a signer who is not an owner, or a second signature of the same owner.
   */
  async addSignature(hash: string, owner: string, signature: string): Promise<void> {
    const tx = await this.store.get(this.safe, hash);
    if (tx === undefined) throw new Error(`no transaction ${hash} for Safe ${getAddress(this.safe)} in the store`);
    const expected = safeTxHash(this.chainId, this.safe, tx.data);
    if (expected !== hash.toLowerCase()) throw new Error(`the stored transaction's hash is ${expected}, not ${hash}`);
    const chain = await this.onChainNonce();
    if (tx.data.nonce < chain) {
      const executedIn = tx.executedIn ?? (await this.execution(hash))?.transactionHash;
      if (executedIn !== undefined) throw new Error(`already executed in ${executedIn}`);
      throw new Error(`stale: nonce ${tx.data.nonce} is already used (the Safe is at ${chain})`);
    }
    const claimed = await this.checkSignature(hash, owner, signature);
    if (tx.signatures[claimed] !== undefined) throw new Error(`${claimed} already signed this transaction`);
    await this.store.putSignature(this.safe, hash, claimed, signature);
  }

  /**
   * Every stored transaction with its confirmations and status. One that no owner confirms
   * (signed, or approved on chain) is left out: anyone who can write to a shared store could have
   * put it there, and it stands for nobody's decision.
   */
  async list(): Promise<QueueEntry[]> {
    const [owners, threshold, chain] = await Promise.all([this.owners(), this.threshold(), this.onChainNonce()]);
    const out: QueueEntry[] = [];
    for (const tx of await this.store.list(this.safe)) {
      const confirmations = await this.confirmationsOf(tx, owners);
      if (confirmations.length === 0) continue;
      const ready = confirmations.length >= threshold;
      if (tx.data.nonce < chain) {
        // Its nonce is used: by this very transaction (executed), or by another one.
        const transactionHash = tx.executedIn ?? (await this.execution(tx.safeTxHash))?.transactionHash;
        const status = transactionHash !== undefined ? "executed" : "stale";
        out.push({ ...tx, confirmations, threshold, ready, status, ...(transactionHash ? { transactionHash } : {}) });
        continue;
      }
      const status = tx.data.nonce > chain ? "blocked" : ready ? "executable" : "pending";
      out.push({ ...tx, confirmations, threshold, ready, status });
    }
    return out;
  }

  async entry(hash: string): Promise<QueueEntry> {
    const found = (await this.list()).find((t) => t.safeTxHash === hash.toLowerCase());
    if (found === undefined) throw new Error(`no transaction ${hash} for Safe ${getAddress(this.safe)} in the store`);
    return found;
  }

  private async confirmationsOf(tx: StoredTxWithSignatures, owners: string[]): Promise<string[]> {
    const confirmed = new Set<string>();
    for (const [owner, signature] of Object.entries(tx.signatures)) {
      try {
        if (owners.includes(owner) && signerOf(tx.safeTxHash, signature) === owner) confirmed.add(owner);
      } catch {
        // A signature that does not verify counts for nothing.
      }
    }
    for (const owner of owners) {
      if (!confirmed.has(owner) && (await this.safeContract.approvedHashes(owner, tx.safeTxHash)) !== 0n)
        confirmed.add(owner);
    }
    return [...confirmed];
  }

  /** Whether the Safe executed the transaction `hash` (its `ExecutionSuccess` event). */
  async wasExecuted(hash: string, fromBlock = 0): Promise<boolean> {
    return (await this.execution(hash, fromBlock)) !== undefined;
  }

  /** Where the Safe executed the transaction `hash` (its `ExecutionSuccess` event), if it did. */
  async execution(hash: string, fromBlock = 0): Promise<Execution | undefined> {
    const key = hash.toLowerCase();
    const known = this.executions.get(key);
    if (known !== undefined) return known;
    const filter = this.safeContract.filters.ExecutionSuccess(key);
    const [event] = await this.safeContract.queryFilter(filter, fromBlock);
    if (event === undefined) return undefined;
    const [tx, block] = await Promise.all([event.getTransaction(), event.getBlock()]);
    const found: Execution = {
      transactionHash: event.transactionHash,
      blockNumber: event.blockNumber,
      executor: getAddress(tx.from),
      executedAt: new Date(block.timestamp * 1000).toISOString(),
    };
    this.executions.set(key, found);
    return found;
  }

  /** `owner` approves the transaction on chain (`approveHash`): an alternative to signing. */
  async approveOnChain(connection: SafeConnection, owner: string, hash: string): Promise<void> {
    const kit = await safeFor(connection, owner);
    const result = await kit.approveTransactionHash(hash);
    const response = result.transactionResponse as { wait?: () => Promise<unknown> } | undefined;
    if (response?.wait !== undefined) await response.wait();
  }

  /** The transaction with its owners' signatures, once they reach the threshold (else why not). */
  private async signed(hash: string): Promise<EthSafeTransaction> {
    const entry = await this.entry(hash);
    if (entry.status === "executed") throw new Error(`already executed in ${entry.transactionHash}`);
    if (entry.status === "stale") throw new Error(`stale: nonce ${entry.data.nonce} is already used`);
    if (entry.status === "blocked") {
      throw new Error(
        `blocked: nonce ${entry.data.nonce} waits for nonce ${await this.onChainNonce()} to execute first`,
      );
    }
    if (!entry.ready) {
      throw new Error(
        `${entry.confirmations.length} of ${entry.threshold} confirmations: ${entry.threshold - entry.confirmations.length} missing, not executed`,
      );
    }
    const tx = new EthSafeTransaction({ ...entry.data });
    for (const owner of entry.confirmations) {
      const signature = entry.signatures[owner];
      // An owner who approved the hash on chain (approveHash) signs with a pre-validated signature.
      tx.addSignature(
        signature !== undefined ? new EthSafeSignature(owner, signature) : generatePreValidatedSignature(owner),
      );
    }
    return tx;
  }

  /**
   * Executes the transaction once its confirmations reach the threshold (else refuses, saying how
   * many are missing), through protocol-kit from `executor`'s account. Returns the tx hash.
   */
  async execute(connection: SafeConnection, executor: string, hash: string): Promise<string> {
    const tx = await this.signed(hash);
    const kit = await safeFor(connection, executor);
    const result = await kit.executeTransaction(tx);
    const response = result.transactionResponse as { wait?: () => Promise<unknown> } | undefined;
    if (response?.wait !== undefined) await response.wait();
    return result.hash;
  }

  /**
   * The same as {execute}, sent by any signer as a plain `execTransaction` call: the bot's
   * managed signer, so that every transaction of its key goes through one nonce manager.
   */
  async executeWith(signer: Signer, hash: string): Promise<string> {
    const tx = await this.signed(hash);
    const d = tx.data;
    const data = EXEC_TRANSACTION.encodeFunctionData("execTransaction", [
      d.to,
      d.value,
      d.data,
      d.operation,
      d.safeTxGas,
      d.baseGas,
      d.gasPrice,
      d.gasToken,
      d.refundReceiver,
      tx.encodedSignatures(),
    ]);
    const response = await signer.sendTransaction({ to: this.safe, data });
    const receipt = await response.wait();
    if (receipt === null || receipt.status !== 1) throw new Error(`the Safe transaction ${hash} reverted`);
    return response.hash;
  }

  /** A rejection of `nonce` signed by `signer`: a call of the Safe to itself that does nothing, to unblock the queue. */
  async proposeRejection(nonce: number, signer: Signer): Promise<StoredTx> {
    const zero = "0x0000000000000000000000000000000000000000";
    return this.propose(
      {
        to: getAddress(this.safe),
        value: "0",
        data: "0x",
        operation: 0,
        safeTxGas: "0",
        baseGas: "0",
        gasPrice: "0",
        gasToken: zero,
        refundReceiver: zero,
        nonce,
      },
      `Reject nonce ${nonce}`,
      signer,
    );
  }
}

/**
 * Safe transaction data for `calls` built by protocol-kit, at `nonce`: several calls are a batch
 * delegatecalled to MultiSendCallOnly (plain calls only), the one delegatecall multiSend.ts accepts.
 */
export async function buildSafeTxData(
  connection: SafeConnection,
  anyOwner: string,
  calls: { to: string; data: string; value?: bigint }[],
  nonce: number,
): Promise<SafeTxData> {
  const kit = await safeFor(connection, anyOwner);
  const tx = await kit.createTransaction({
    transactions: calls.map((c) => ({ to: c.to, data: c.data, value: (c.value ?? 0n).toString() })),
    onlyCalls: true,
    options: { nonce },
  });
  const d = tx.data;
  return safeTxDataSchema.parse({
    to: getAddress(d.to),
    value: String(d.value),
    data: d.data,
    operation: Number(d.operation),
    safeTxGas: String(d.safeTxGas),
    baseGas: String(d.baseGas),
    gasPrice: String(d.gasPrice),
    gasToken: getAddress(d.gasToken),
    refundReceiver: getAddress(d.refundReceiver),
    nonce: Number(d.nonce),
  });
}
