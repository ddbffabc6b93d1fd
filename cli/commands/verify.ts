import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { listProposals } from "../../governance/dao";
import { readSafeCall, safeTxProblems } from "../../governance/multiSend";
import type { QueueEntry } from "../../governance/safeStore";
import { verifyDecision, type VerifyLine } from "../../manager-bot/src/decide";
import { parseAddress, type Context } from "../context";
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
 * A Safe transaction's calls (a batch through the canonical MultiSendCallOnly unpacked, any other
 * delegatecall not at all), and what makes it wrong whatever the evidence says: what multiSend.ts's
 * rule refuses, and a value on the batch itself (the decided actions send none).
 */
function safeCalls(
  ctx: Context,
  entry: QueueEntry,
): { calls: { target: string; data: string; value: bigint }[]; refused: VerifyLine[] } {
  const trust = trustOf(ctx);
  const shape = readSafeCall(entry.data, trust);
  const value = BigInt(entry.data.value);
  const refused = safeTxProblems(entry.data, trust).map((why) => ({ action: "Safe transaction", ok: false, why }));
  if (shape.kind === "batch" && value !== 0n) {
    refused.push({
      action: "Safe transaction",
      ok: false,
      why: `the batch carries ${value} wei: the decided actions send none`,
    });
  }
  const calls =
    shape.kind === "call"
      ? [{ target: entry.data.to, data: entry.data.data, value }]
      : shape.kind === "batch"
        ? shape.calls.map((c) => ({ target: c.to, data: c.data, value: c.value }))
        : [];
  return { calls, refused };
}

/** `ddc verify`: recompute a decision from its evidence and compare it with what is on chain. */
export function registerVerify(program: Command, run: Runner): void {
  program
    .command("verify <id>")
    .description(
      "recompute the actions from the evidence and check them, action by action, against a proposal (id) or a Safe transaction (hash, with --safe)",
    )
    .requiredOption("--evidence <file|url>", "the evidence document (canonical JSON)")
    .option("--safe <address>", "the Safe, when <id> is a Safe transaction hash")
    .option("--store <where>", "the Safe signature store (or DDC_SAFE_STORE)")
    .action(
      run(async (ctx, id: string, o: { evidence: string; safe?: string; store?: string }) => {
        const doc = await loadEvidence(o.evidence);
        let calls: { target: string; data: string; value: bigint }[];
        let refused: VerifyLine[] = [];
        if (/^0x[0-9a-fA-F]{64}$/.test(id)) {
          if (o.safe === undefined) throw new CliError("a Safe transaction hash needs --safe <address>");
          const entry = await queueFor(ctx, parseAddress("--safe", o.safe), storeFrom(o.store)).entry(id);
          ({ calls, refused } = safeCalls(ctx, entry));
        } else {
          if (!/^\d+$/.test(id)) throw new CliError(`not a proposal id nor a Safe transaction hash: "${id}"`);
          const p = (await listProposals(ctx.governor, { fromBlock: ctx.record.block })).find(
            (x) => x.id === BigInt(id),
          );
          if (p === undefined) throw new CliError(`no proposal ${id} on this Governor`);
          calls = p.targets.map((target, i) => ({ target, data: p.calldatas[i], value: p.values[i] }));
        }
        const lines = [...refused, ...verifyDecision(doc, calls)];
        const ok = lines.every((l) => l.ok);
        print(ctx, { ok, lines }, [
          ...lines.map((l) => `${l.ok ? "ok  " : "FAIL"}  ${l.action}: ${l.why}`),
          ok ? "verified" : "NOT verified",
        ]);
        if (!ok) process.exitCode = 1;
      }),
    );
}
