import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, type Provider } from "ethers";
import { DirectorySignatureStore } from "../../governance/safeStore";
import { BotStore } from "../../manager-bot/src/store";

/** Hardhat's and anvil's default mnemonic: the development accounts of every local node. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** Development account `i`, as a process other than the node would hold it. */
export function devAccount(i: number, provider?: Provider): HDNodeWallet {
  const w = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
  return provider === undefined ? w : w.connect(provider);
}

/** The private key of a development account (one of the first 30), by its address. */
export function devKeyOf(address: string): string {
  for (let i = 0; i < 30; i++) if (devAccount(i).address === address) return devAccount(i).privateKey;
  throw new Error(`${address} is not a development account`);
}

/** A fresh directory under the system's temporary one. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ddc-${prefix}-`));
}

/** A Safe signature store in a fresh directory. */
export function tempSignatureStore(): DirectorySignatureStore {
  return new DirectorySignatureStore(tempDir("sigs"));
}

/** A bot store in a fresh SQLite file. */
export function tempBotStore(): BotStore {
  return new BotStore(join(tempDir("bot"), "bot.sqlite"));
}
