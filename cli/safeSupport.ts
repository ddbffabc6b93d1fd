import { Wallet, type Signer } from "ethers";
import { contractNetworks, SAFE_CONTRACT_NAMES, type SafeSingletons } from "../lib/safeArtifacts";
import { decodeSafeTransaction, type DecodedSafeTransaction } from "../governance/decode";
import type { SafeTrust } from "../governance/multiSend";
import type { SafeConnection } from "../governance/safe";
import { HttpSignatureStore } from "../governance/safeServer";
import { DirectorySignatureStore, SafeQueue, type SafeTxData, type SignatureStore } from "../governance/safeStore";
import type { Context } from "./context";
import { CliError } from "./errors";
import { GuardedSigner } from "./guard";

/** The shared signature store: a directory, or an http(s) URL (--store, or DDC_SAFE_STORE). */
export function storeFrom(raw: string | undefined): SignatureStore {
  const where = raw ?? process.env.DDC_SAFE_STORE;
  if (where === undefined || where === "") {
    throw new CliError("no signature store", "pass --store <directory | http(s) URL> or set DDC_SAFE_STORE");
  }
  return /^https?:\/\//.test(where) ? new HttpSignatureStore(where) : new DirectorySignatureStore(where);
}

export function connectionFor(ctx: Context, safe: string): SafeConnection {
  const c = ctx.record.contracts;
  const missing = SAFE_CONTRACT_NAMES.filter((n) => c[n] === undefined);
  const singletons =
    missing.length === 0
      ? (Object.fromEntries(SAFE_CONTRACT_NAMES.map((n) => [n, c[n]])) as SafeSingletons)
      : undefined;
  return {
    provider: ctx.provider._getConnection().url,
    safeAddress: safe,
    contractNetworks: singletons === undefined ? undefined : contractNetworks(ctx.record.chainId, singletons),
  };
}

export function queueFor(ctx: Context, safe: string, store: SignatureStore): SafeQueue {
  return new SafeQueue(ctx.provider, ctx.record.chainId, safe, store);
}

/** protocol-kit takes the key itself: only a key held in this process (env or keystore) works. */
export function privateKeyOf(signer: Signer): string {
  const key = signer instanceof GuardedSigner ? signer.inner : signer;
  if (key instanceof Wallet) return key.privateKey;
  throw new CliError("Safe commands need a local key (DDC_PRIVATE_KEY or a keystore)");
}

/** What the Safe rule trusts on this deployment: its chain and its contracts (its MultiSendCallOnly). */
export function trustOf(ctx: Context): SafeTrust {
  return { chainId: ctx.record.chainId, contracts: ctx.record.contracts };
}

/**
 * `data` decoded; refused (a CliError naming each problem) when multiSend.ts's rule says it must
 * not be signed nor executed: a delegatecall to anything but the canonical MultiSendCallOnly, a
 * delegatecall inside a batch, a gas refund.
 */
export function checkedSafeTx(
  ctx: Context,
  verb: "sign" | "execute",
  hash: string,
  data: SafeTxData,
): DecodedSafeTransaction {
  const decoded = decodeSafeTransaction(data, trustOf(ctx));
  if (decoded.problems.length > 0) {
    throw new CliError(
      `refusing to ${verb} the Safe transaction ${hash}: ${decoded.problems.join("; ")}`,
      `nobody should sign or execute it: \`ddc safe reject <safe> ${data.nonce}\` uses its nonce up with an empty transaction`,
    );
  }
  return decoded;
}
