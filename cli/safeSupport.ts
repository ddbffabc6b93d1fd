import { join } from "node:path";
import { Wallet, type Signer } from "ethers";
import { contractNetworks, SAFE_CONTRACT_NAMES, type SafeSingletons } from "../lib/safeArtifacts";
import { decodeSafeTransaction, type DecodedSafeTransaction } from "../governance/decode";
import type { SafeTrust } from "../governance/multiSend";
import type { SafeConnection } from "../governance/safe";
import { ROOT } from "../lib/root";
import { SafeQueue, type SafeTxData, type SignatureStore } from "../governance/safeStore";
import { SAFE_SERVICE, defaultStore, openStore, servedBySafe } from "../governance/safeTxService";
import type { Context } from "./context";
import { CliError } from "./errors";
import { GuardedSigner } from "./guard";

/** What --help says about the signature store (every command that takes --store). */
export const STORE_HELP =
  "the signature store, where a Safe's owners share transactions and signatures: `safe` (Safe's Transaction " +
  "Service, with DDC_SAFE_API_KEY), the URL of a signature server (`ddc safe serve`) or a directory; " +
  "default DDC_SAFE_STORE, else `safe` on chains Safe's service serves, else deployments/<network>.signatures";

/** The deployment record's file (as makeContext finds it): the default directory store sits beside it. */
export function recordFileOf(ctx: Context): string {
  const dir = process.env.DDC_DEPLOYMENTS_DIR ?? join(ROOT, "deployments");
  return ctx.options.deployment ?? join(dir, `${ctx.network}.json`);
}

/** The shared signature store (--store, DDC_SAFE_STORE, or the network's default: see STORE_HELP). */
export function storeFrom(ctx: Context, raw: string | undefined): SignatureStore {
  const env = process.env.DDC_SAFE_STORE;
  const where = raw ?? (env !== undefined && env !== "" ? env : defaultStore(ctx.record.chainId, recordFileOf(ctx)));
  try {
    return openStore(where, ctx.record.chainId, process.env.DDC_SAFE_API_KEY);
  } catch (error) {
    throw new CliError(
      `no signature store: ${(error as Error).message}`,
      (where === SAFE_SERVICE && servedBySafe(ctx.record.chainId)
        ? "set DDC_SAFE_API_KEY (Safe's Transaction Service needs an API key), or "
        : "") + "pass --store <URL of a signature server (`ddc safe serve`) | directory> (or DDC_SAFE_STORE)",
    );
  }
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
