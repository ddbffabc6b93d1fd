import Safe, { type ContractNetworksConfig, type Eip1193Provider } from "@safe-global/protocol-kit";
import type { SafeTransaction } from "@safe-global/types-kit";

/**
 * A cluster managed by a Safe multisig: manager actions become Safe transactions, signed by the
 * owners (EIP-712, through protocol-kit) and executed once the threshold is met. Nothing here
 * needs the Safe Transaction Service: signatures travel with the transaction object.
 */

/** One call the Safe makes. */
export interface SafeCall {
  to: string;
  data: string;
  value?: bigint;
}

export interface SafeConnection {
  /** An EIP-1193 provider (e.g. `hre.network.provider`) or an RPC URL. */
  provider: Eip1193Provider | string;
  safeAddress: string;
  /** Where the Safe contracts are on chains without the canonical deployment (see deploy/safe.ts). */
  contractNetworks?: ContractNetworksConfig;
}

/** protocol-kit for `signer` (a private key, or an address the provider can sign for) on the Safe. */
export async function safeFor(connection: SafeConnection, signer: string): Promise<Safe> {
  return Safe.init({
    provider: connection.provider,
    signer,
    safeAddress: connection.safeAddress,
    contractNetworks: connection.contractNetworks,
  });
}

/**
 * A Safe transaction of `calls` (one call, or a batch delegatecalled to MultiSendCallOnly, the only
 * delegatecall a Safe owner here signs: see multiSend.ts), with the Safe's next nonce.
 */
export async function createSafeTransaction(kit: Safe, calls: SafeCall[]): Promise<SafeTransaction> {
  if (calls.length === 0) throw new Error("createSafeTransaction: no calls");
  return kit.createTransaction({
    transactions: calls.map((c) => ({ to: c.to, data: c.data, value: (c.value ?? 0n).toString() })),
    onlyCalls: true,
  });
}

/** Adds `signer`'s EIP-712 signature to `tx` (which keeps the signatures already on it). */
export async function signSafeTransaction(
  connection: SafeConnection,
  signer: string,
  tx: SafeTransaction,
): Promise<SafeTransaction> {
  const kit = await safeFor(connection, signer);
  return kit.signTransaction(tx);
}

/**
 * Executes `tx` from `executor`'s account once it holds at least the threshold of signatures;
 * refuses (without sending anything) when it does not. Returns the transaction hash.
 */
export async function executeSafeTransaction(
  connection: SafeConnection,
  executor: string,
  tx: SafeTransaction,
): Promise<string> {
  const kit = await safeFor(connection, executor);
  const threshold = await kit.getThreshold();
  const owners = new Set((await kit.getOwners()).map((o) => o.toLowerCase()));
  const signed = [...tx.signatures.keys()].filter((s) => owners.has(s.toLowerCase())).length;
  if (signed < threshold) {
    throw new Error(`the Safe needs ${threshold} owner signatures, the transaction has ${signed}`);
  }
  const result = await kit.executeTransaction(tx);
  const hash = result.hash;
  const receipt = result.transactionResponse as { wait?: () => Promise<unknown> } | undefined;
  if (receipt?.wait !== undefined) await receipt.wait();
  return hash;
}
