import { readFileSync } from "node:fs";
import { Wallet } from "ethers";
import { DdcError } from "./errors";

/** Where a service's signing key comes from: an environment variable, or an encrypted keystore. */
export type KeySource = { kind: "env"; name: string } | { kind: "keystore"; file: string; passwordEnv: string };

/**
 * The service's key (the bot's, a storage node's, a validator's), from the variable `key.name`
 * holds, or from the keystore `key.file` opened with the password in the variable `key.passwordEnv`
 * names. Every failure names the variable or the file and what was wrong.
 */
export async function loadKey(key: KeySource, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  if (key.kind === "env") {
    try {
      return new Wallet(env[key.name]!);
    } catch {
      throw new DdcError(`${key.name} is not a private key (32 bytes of hex)`);
    }
  }
  let json: string;
  try {
    json = readFileSync(key.file, "utf8");
  } catch {
    throw new DdcError(`no keystore file at ${key.file}`);
  }
  try {
    return (await Wallet.fromEncryptedJson(json, env[key.passwordEnv] ?? "")) as Wallet;
  } catch (error) {
    const wrong = /incorrect password/i.test((error as Error).message);
    throw new DdcError(`cannot open the keystore ${key.file}: ${wrong ? "wrong password" : (error as Error).message}`);
  }
}
