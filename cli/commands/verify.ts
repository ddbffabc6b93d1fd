import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseEvidence, parseEvidenceUrl } from "../../governance/actions";
import { evidenceUrl } from "../../manager-bot/src/decide";
import { hashOfJson, ready } from "../../manager-bot/src/evidence";
import { IDDC__factory } from "../../typechain-types";
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
import { STORE_HELP, queueFor, storeFrom, trustOf } from "../safeSupport";
import type { Runner } from "../main";
import { resolveProposal } from "./gov";

const CORE = IDDC__factory.createInterface();

/** The evidence hash the calls carry (each decided action's call has it as an argument), if any. */
function evidenceHashOf(calls: OnChainCall[]): string | undefined {
  for (const c of calls) {
    try {
      const parsed = CORE.parseTransaction({ data: c.data });
      const i = parsed?.fragment.inputs.findIndex((x) => x.name === "evidenceHash") ?? -1;
      if (parsed !== null && i >= 0) return String(parsed.args[i]).toLowerCase();
    } catch {
      // Not a call of the core.
    }
  }
  return undefined;
}

/**
 * Where the evidence is: `--evidence`, else the document the description names (`Evidence
 * document:`), else `<--evidence-base>/evidence/<hash>` for the hash the description or the calls
 * carry.
 */
function evidenceSource(
  o: { evidence?: string; evidenceBase?: string },
  description: string | undefined,
  calls: OnChainCall[],
): { where: string; hash?: string } {
  const hash =
    (description === undefined ? undefined : parseEvidence(description))?.toLowerCase() ?? evidenceHashOf(calls);
  if (o.evidence !== undefined) return { where: o.evidence, hash };
  const named = description === undefined ? undefined : parseEvidenceUrl(description);
  if (named !== undefined) return { where: named, hash };
  if (o.evidenceBase !== undefined && hash !== undefined) return { where: evidenceUrl(o.evidenceBase, hash), hash };
  throw new CliError(
    hash === undefined
      ? "no evidence: the calls carry no evidence hash and no document is named; pass --evidence <file|url>"
      : `no evidence: nothing names where the document ${hash} is published`,
    "pass --evidence <file|url>, or --evidence-base <the bot's public URL> (the document is at <url>/evidence/<hash>)",
  );
}

async function loadEvidence(where: string, hash?: string): Promise<Record<string, unknown>> {
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
  // Published documents are the exact bytes hashed: one that is not is not this decision's.
  if (hash !== undefined && /^https?:\/\//.test(where) && hashOfJson(text) !== hash) {
    throw new CliError(
      `the document at ${where} hashes to ${hashOfJson(text)}, not to ${hash}: it is not this decision's evidence`,
    );
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
    .option(
      "--evidence <file|url>",
      "the evidence document (canonical JSON); by default the one the description names (Evidence document:)",
    )
    .option(
      "--evidence-base <url>",
      "a bot's public base URL (its evidence.baseUrl): the document is fetched from <url>/evidence/<hash>",
    )
    .option(
      "--safe <address>",
      "the Safe, when <id> is a Safe transaction hash (without it, a hash is a transaction's)",
    )
    .option("--store <where>", STORE_HELP)
    .action(
      run(async (ctx, id: string, o: { evidence?: string; evidenceBase?: string; safe?: string; store?: string }) => {
        let calls: OnChainCall[];
        let description: string | undefined;
        let found: VerifyLine[] = [];
        if (/^0x[0-9a-fA-F]{64}$/.test(id)) {
          if (o.safe !== undefined) {
            const entry = await queueFor(ctx, parseAddress("--safe", o.safe), storeFrom(ctx, o.store)).entry(id);
            ({ calls, refused: found } = safeTxCalls(entry.data, trustOf(ctx)));
            description = entry.description;
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
          // The full id or a unique prefix, as every gov command takes it.
          const p = await resolveProposal(ctx, id);
          calls = p.targets.map((target, i) => ({ target, data: p.calldatas[i], value: p.values[i] }));
          description = p.description;
        }
        const source = evidenceSource(o, description, calls);
        // The WebAssembly keccak before any hash: ethers' takes seconds over a large document.
        await ready();
        const doc = await loadEvidence(source.where, source.hash);
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
