import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, Wallet, getAddress, isAddress, type Signer } from "ethers";
import { z } from "zod";
import { readRecord, type DeploymentRecord } from "../deploy/record";
import {
  DDCGovernanceToken__factory,
  DDCGovernor__factory,
  IDDC__factory,
  TestStablecoin__factory,
  TimelockController__factory,
} from "../typechain-types";
import type { DDCGovernanceToken, DDCGovernor, IDDC, TestStablecoin, TimelockController } from "../typechain-types";
import { formatMoney, formatTime, formatUnits, valueFormat, type TokenInfo, type ValueFormat } from "../lib/format";
import { CliError } from "./errors";
import { GuardedSigner, type GuardOptions } from "./guard";

/** The options every command takes (before or after the command's name). */
export interface GlobalOptions {
  json?: boolean;
  network?: string;
  rpc?: string;
  deployment?: string;
  keystore?: string;
  quiet?: boolean;
  /** Simulate the command's first transaction, print it decoded, send nothing. */
  dryRun?: boolean;
  /** Do not ask for confirmation on a terminal. */
  yes?: boolean;
}

export interface Context {
  options: GlobalOptions;
  network: string;
  provider: JsonRpcProvider;
  record: DeploymentRecord;
  ddc: IDDC;
  token: TestStablecoin;
  governor: DDCGovernor;
  governanceToken: DDCGovernanceToken;
  timelock: TimelockController;
  /** The payment token's decimals (read once). */
  decimals(): Promise<number>;
  /** The payment token's symbol and decimals (read once). */
  tokenInfo(): Promise<TokenInfo>;
  /** The latest block's timestamp (the chain's "now", which is what rules compare with). */
  now(): Promise<bigint>;
  /** `amount` of the payment token as people read it: `25 USDC`. */
  money(amount: bigint): Promise<string>;
  /** A timestamp as people read it: `2026-12-14T12:00:00Z (in 7 d)`. */
  time(at: bigint | number): Promise<string>;
  /** How decoded errors show money and times (best effort: empty when the chain cannot say). */
  valueFormat(): Promise<ValueFormat>;
  /** The signing key (loaded on first use; read-only commands never ask for one). */
  signer(): Promise<Signer>;
  /** Where `ddc` reports progress (stderr, so that `--json` output stays clean). */
  progress(line: string): void;
}

const ROOT = join(__dirname, "..");

function rpcFor(options: GlobalOptions, network: string): string {
  if (options.rpc !== undefined) return options.rpc;
  if (network === "localhost") return process.env.DDC_LOCAL_RPC ?? "http://127.0.0.1:8545";
  const url = process.env.DDC_RPC_URL;
  if (url === undefined || url === "") {
    throw new CliError(`no RPC URL for network ${network}`, "pass --rpc <url> or set DDC_RPC_URL");
  }
  return url;
}

/** The key from DDC_PRIVATE_KEY, or from an encrypted keystore file (password in DDC_KEYSTORE_PASSWORD). */
async function loadSigner(options: GlobalOptions, provider: JsonRpcProvider): Promise<Signer> {
  const keystore = options.keystore ?? process.env.DDC_KEYSTORE;
  if (keystore !== undefined && keystore !== "") {
    if (!existsSync(keystore)) throw new CliError(`no keystore file at ${keystore}`);
    const password = process.env.DDC_KEYSTORE_PASSWORD;
    if (password === undefined) throw new CliError("the keystore needs its password", "set DDC_KEYSTORE_PASSWORD");
    try {
      return (await Wallet.fromEncryptedJson(readFileSync(keystore, "utf8"), password)).connect(provider);
    } catch (error) {
      const reason = /incorrect password/.test((error as Error).message) ? "wrong password" : (error as Error).message;
      throw new CliError(`cannot open the keystore ${keystore}: ${reason}`, "check DDC_KEYSTORE_PASSWORD");
    }
  }
  const key = process.env.DDC_PRIVATE_KEY;
  if (key === undefined || key === "") {
    throw new CliError(
      "this command sends a transaction and no key is set",
      "set DDC_PRIVATE_KEY, or --keystore <file> (or DDC_KEYSTORE) with DDC_KEYSTORE_PASSWORD; keys never go on the command line",
    );
  }
  try {
    return new Wallet(key, provider);
  } catch {
    throw new CliError("DDC_PRIVATE_KEY is not a private key (32 bytes of hex)");
  }
}

export async function makeContext(options: GlobalOptions): Promise<Context> {
  const network = options.network ?? process.env.DDC_NETWORK ?? "localhost";
  const file =
    options.deployment ?? join(process.env.DDC_DEPLOYMENTS_DIR ?? join(ROOT, "deployments"), `${network}.json`);
  const record = readRecord(file);
  if (record === undefined) {
    throw new CliError(
      `no deployment record at ${file}`,
      `deploy first (npm run deploy -- --network ${network}) or pass --deployment <file>`,
    );
  }
  // No request cache: a command reads the nonce again right after its previous transaction.
  const provider = new JsonRpcProvider(rpcFor(options, network), record.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  });
  const c = record.contracts;
  const need = (name: string) => {
    const a = c[name];
    if (a === undefined) throw new CliError(`the deployment record ${file} has no ${name}`);
    return a;
  };
  let signer: Promise<Signer> | undefined;
  let decimals: Promise<number> | undefined;
  let info: Promise<TokenInfo> | undefined;
  const token = TestStablecoin__factory.connect(need("PaymentToken"), provider);
  const decimalsOnce = () => (decimals ??= token.decimals().then(Number));
  const tokenInfo = () =>
    (info ??= Promise.all([token.symbol(), decimalsOnce()]).then(([symbol, d]) => ({ symbol, decimals: d })));
  const now = async () => BigInt((await provider.getBlock("latest"))!.timestamp);
  const safeFormat = async (): Promise<ValueFormat> => {
    try {
      return valueFormat(await tokenInfo(), await now());
    } catch {
      return {};
    }
  };
  const guard: Omit<GuardOptions, "say"> = {
    dryRun: options.dryRun === true,
    yes: options.yes === true,
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
    decode: async () => ({ chainId: record.chainId, contracts: record.contracts, format: await safeFormat() }),
  };
  return {
    options,
    network,
    provider,
    record,
    ddc: IDDC__factory.connect(need("DDCCore"), provider),
    token,
    governor: DDCGovernor__factory.connect(need("DDCGovernor"), provider),
    governanceToken: DDCGovernanceToken__factory.connect(need("DDCGovernanceToken"), provider),
    timelock: TimelockController__factory.connect(need("TimelockController"), provider),
    decimals: decimalsOnce,
    tokenInfo,
    now,
    money: async (amount) => formatMoney(amount, await tokenInfo()),
    time: async (at) => formatTime(at, await now()),
    valueFormat: safeFormat,
    signer: () =>
      (signer ??= loadSigner(options, provider).then(
        (inner) => new GuardedSigner(inner, { ...guard, say: (line) => process.stderr.write(`${line}\n`) }),
      )),
    progress: (line) => {
      if (options.quiet !== true) process.stderr.write(`${line}\n`);
    },
  };
}

// ─────────────────────────────────────── argument parsing ───────────────────────────────────────

/** A positive id (node, cluster, bucket). */
export function parseId(what: string, raw: string): bigint {
  if (!/^\d+$/.test(raw) || BigInt(raw) === 0n) throw new CliError(`${what} must be a positive integer, got "${raw}"`);
  return BigInt(raw);
}

export function parseIds(what: string, raw: string): bigint[] {
  return raw.split(",").map((s) => parseId(what, s.trim()));
}

export function parseUint(what: string, raw: string): bigint {
  if (!/^\d+$/.test(raw)) throw new CliError(`${what} must be a non-negative integer, got "${raw}"`);
  return BigInt(raw);
}

export function parseAddress(what: string, raw: string): string {
  if (!isAddress(raw)) throw new CliError(`${what} is not an address: "${raw}"`);
  return getAddress(raw);
}

export function parseHash(what: string, raw: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(raw))
    throw new CliError(`${what} must be 32 bytes of hex (0x + 64 digits), got "${raw}"`);
  return raw.toLowerCase();
}

/** A token amount in whole units with up to `decimals` decimals ("12.5"). */
export function parseAmount(raw: string, decimals: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(raw);
  if (m === null) throw new CliError(`amount must be a decimal number, got "${raw}"`);
  const fraction = m[2] ?? "";
  if (fraction.length > decimals) throw new CliError(`amount "${raw}" has more than ${decimals} decimals`);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

/** Whole tokens, without the symbol (for amounts a user types back in). */
export const formatAmount = formatUnits;

export const roleSchema = z.enum(["writer", "reader"]);
