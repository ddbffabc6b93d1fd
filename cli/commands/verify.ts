import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { listProposals } from "../../governance/dao";
import { coreChainView } from "../../manager-bot/src/chain";
import {
  safeTxCalls,
  transactionCalls,
  verifyEvidence,
  type OnChainCall,
  type VerifyLine,
} from "../../manager-bot/src/verify";
import { parseAddress } from "../context";
import { CliError } from "../errors";
import { print } from "../output";
import { queueFor, storeFrom, trustOf } from "../safeSupport";
import type { Runner } from "../main";

async function loadEvidence(where: string): Promise<Record<string, unknown>> {
  let text: string;
  if (/^https?:\/\//.test(where)) {
    const response = await fetch(where).catch((error: Error) => {
      throw new CliError(`cannot fetch the evidence at ${where}: ${error.message}`);
    });
    if (!response.ok) throw new CliError(`the evidence at ${where} answered ${response.status}`);
    text = await response.text();
  } else {
    try {
      text = readFileSync(where, "utf8");
    } catch {
      throw new CliError(`no evidence file at ${where}`);
    }
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`the evidence is not JSON: ${(error as Error).message}`);
  }
}

/**
 * `ddc verify`: check an evidence document against the chain (the validators, the cluster's
 * parameters and members as of the era's end, the reports' signatures), recompute the decision,
 * and compare it with what is on chain.
 */
export function registerVerify(program: Command, run: Runner): void {
  program
    .command("verify <id>")
    .description(
      "check the evidence against the chain, recompute the actions, and check them, call by call, against a proposal (id), a Safe transaction (hash, with --safe) or a transaction (hash)",
    )
    .requiredOption("--evidence <file|url>", "the evidence document (canonical JSON)")
    .option(
      "--safe <address>",
      "the Safe, when <id> is a Safe transaction hash (without it, a hash is a transaction's)",
    )
    .option("--store <where>", "the Safe signature store (or DDC_SAFE_STORE)")
    .action(
      run(async (ctx, id: string, o: { evidence: string; safe?: string; store?: string }) => {
        const doc = await loadEvidence(o.evidence);
        let calls: OnChainCall[];
        let found: VerifyLine[] = [];
        if (/^0x[0-9a-fA-F]{64}$/.test(id)) {
          if (o.safe !== undefined) {
            const entry = await queueFor(ctx, parseAddress("--safe", o.safe), storeFrom(o.store)).entry(id);
            ({ calls, refused: found } = safeTxCalls(entry.data, trustOf(ctx)));
          } else {
            const tx = await transactionCalls(ctx.provider, id);
            if (tx === null) {
              throw new CliError(
                `no transaction ${id} on this chain`,
                "a Safe transaction hash needs --safe <address> (and --store)",
              );
            }
            ({ calls, lines: found } = tx);
          }
        } else {
          if (!/^\d+$/.test(id)) throw new CliError(`not a proposal id nor a transaction hash: "${id}"`);
          const p = (await listProposals(ctx.governor, { fromBlock: ctx.record.block })).find(
            (x) => x.id === BigInt(id),
          );
          if (p === undefined) throw new CliError(`no proposal ${id} on this Governor`);
          calls = p.targets.map((target, i) => ({ target, data: p.calldatas[i], value: p.values[i] }));
        }
        const { chainId } = await ctx.provider.getNetwork();
        const chain = coreChainView(ctx.ddc, ctx.provider, Number(chainId), { fromBlock: ctx.record.block });
        const lines = [...found, ...(await verifyEvidence(doc, calls, chain))];
        const ok = lines.every((l) => l.ok);
        print(ctx, { ok, lines }, [
          ...lines.map((l) => `${l.ok ? "ok  " : "FAIL"}  ${l.action}: ${l.why}`),
          ok ? "verified" : "NOT verified",
        ]);
        if (!ok) process.exitCode = 1;
      }),
    );
}
