import type { ContractTransactionResponse, TransactionReceipt } from "ethers";
import type { Context } from "./context";
import type { ValueFormat } from "../lib/format";
import { CliError, explain } from "./errors";

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Prints the result: `value` as JSON with --json, else the human lines. */
export function print(ctx: { options: { json?: boolean } }, value: unknown, human: string | string[]): void {
  if (ctx.options.json === true) console.log(toJson(value));
  else console.log(Array.isArray(human) ? human.join("\n") : human);
}

/** Sends a transaction (the contract call estimates gas first, so a revert fails before sending). */
export async function send(
  ctx: Context,
  label: string,
  tx: () => Promise<ContractTransactionResponse>,
): Promise<TransactionReceipt> {
  ctx.progress(`${label}: sending…`);
  const response = await tx();
  ctx.progress(`${label}: ${response.hash} sent, waiting for it to be mined…`);
  const receipt = await response.wait();
  if (receipt === null || receipt.status !== 1) throw new CliError(`${label}: the transaction ${response.hash} failed`);
  ctx.progress(`${label}: mined in block ${receipt.blockNumber}`);
  return receipt;
}

/** The events of `receipt` emitted by the core, parsed. */
export function coreEvents(ctx: Context, receipt: TransactionReceipt) {
  const core = (ctx.ddc.target as string).toLowerCase();
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === core)
    .map((l) => ctx.ddc.interface.parseLog(l))
    .filter((e) => e !== null);
}

/**
 * Prints a command's failure (a JSON line too with `--json`), its hint if there is one, and sets
 * exit code 1.
 */
export function reportFailure(error: unknown, json = false, format: ValueFormat = {}): void {
  const { message, hint } = explain(error, format);
  if (json) console.log(toJson({ error: message, ...(hint ? { hint } : {}) }));
  console.error(`error: ${message}`);
  if (hint !== undefined) console.error(`hint: ${hint}`);
  process.exitCode = 1;
}
